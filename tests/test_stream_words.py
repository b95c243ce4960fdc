"""bench/stream_words.py: keywords, look-alikes and spliced words counted from sidecars."""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from stream_words import counts  # noqa: E402


def test_counts_split_spliced_words_by_kind(tmp_path):
    side = {"events": [["left", 1.0, 1.3], ["go", 5.0, 5.2]],
            "lookalikes": [["lift", 8.0, 8.3], ["goat", 9.0, 9.4], ["cup", 12.0, 12.2]],
            "spliced": [["go", 5.0, 5.2], ["goat", 9.0, 9.4], ["apple", 14.0, 14.5]]}
    (tmp_path / "stream_000.json").write_text(json.dumps(side))
    (tmp_path / "stream_001.json").write_text(json.dumps({"events": [["no", 1, 2]],
                                                          "lookalikes": []}))  # no clips
    # by hand: 3 keywords, 3 look-alikes; spliced: "go" a keyword, "goat" a look-alike, "apple"
    # neither
    assert counts(tmp_path) == {"keywords": 3, "lookalikes": 3, "spliced_keywords": 1,
                                "spliced_lookalikes": 1, "spliced_other": 1}
