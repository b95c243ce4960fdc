"""What the streams of `tdnn prepare kws-streams` hold, from their sidecars: keywords and
look-alike words, and how many of each (and of other words) another engine said (`spliced`:
clips spliced in, or Kokoro's whole utterances of `--kokoro-share`).

    python bench/stream_words.py data/streams_train data/streams_train4klf --out OUT.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def counts(folder: Path) -> dict:
    """Keyword and look-alike counts of a stream folder, and the spliced ones of each kind."""
    total = {"keywords": 0, "lookalikes": 0, "spliced_keywords": 0, "spliced_lookalikes": 0,
             "spliced_other": 0}
    for path in sorted(folder.glob("stream_*.json")):
        side = json.loads(path.read_text())
        events, lookalikes = ({tuple(x) for x in side[k]} for k in ("events", "lookalikes"))
        spliced = {tuple(x) for x in side.get("spliced", [])}
        total["keywords"] += len(events)
        total["lookalikes"] += len(lookalikes)
        total["spliced_keywords"] += len(spliced & events)
        total["spliced_lookalikes"] += len(spliced & lookalikes)
        total["spliced_other"] += len(spliced - events - lookalikes)
    return total


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("folders", nargs="+", type=Path, help="kws-streams folders")
    p.add_argument("--out", type=Path, default=RESULTS / "stream_words.json")
    args = p.parse_args(argv)
    result = {"command": " ".join(["python bench/stream_words.py", *sys.argv[1:]]),
              "folders": {str(f): counts(f) for f in args.folders}}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result["folders"], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
