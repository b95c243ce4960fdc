r"""`tdnn prepare kws-streams`: long keyword-spotting streams for `tdnn stream --eval`.

    tdnn prepare kws-streams --out data/streams_dev --voices dev --negative-hours 5
    tdnn prepare kws-streams --out data/streams_test --voices test --negative-hours 5 --seed 1

Keyword streams hold the ten keywords in carrier phrases ("turn left now", "I said no") and
between other speech, look-alike and partial words (lift/theft, snow, goat, top/spot, of,
gone, cup, town, yet) and keyword-free sentences; negative streams hold only the latter two.
eSpeak NG voices per set (data_prep/stream_voices.py): dev and test each own an accent and ten
variants that train never uses; build training corpora with `--exclude-accents
en-029,en-gb-scotland --exclude-variants <the twenty dev and test variants>` (see `--help`
of --voices). `--voices flite` speaks with Flite's five voices and `--voices festival` with
Festival's two, engines no training corpus uses: test streams only (data_prep/flite_voices.py,
data_prep/festival_voices.py).
An interrupted build resumes where it stopped when run again with the same options.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import time
from pathlib import Path

from ..atomic import atomic_write_text
from ..errors import UserError

FMT = argparse.ArgumentDefaultsHelpFormatter


def register(sub) -> None:
    """Add `kws-streams` and `stream-clips` to the `tdnn prepare` subparsers."""
    p = sub.add_parser("kws-streams", formatter_class=FMT, description=__doc__,
                       help="long keyword and negative streams with a reference list")
    p.add_argument("--out", type=Path, required=True,
                   help="folder to create, or the folder of an interrupted build to resume")
    p.add_argument("--voices", choices=("train", "dev", "test", "flite", "festival"),
                   default="dev",
                   help="eSpeak voice set (data_prep/stream_voices.py): dev = accent en-029 "
                        "and ten variants, test = en-gb-scotland and ten others, train = every "
                        "other accent and variant; or flite / festival: that engine's voices "
                        "(test only, needs the Debian package flite / festival with "
                        "festvox-kallpc16k and festvox-us-slt-hts)")
    p.add_argument("--keyword-streams", type=int, default=12, help="streams holding keywords")
    p.add_argument("--keyword-seconds", type=float, default=300.0,
                   help="length of each keyword stream")
    p.add_argument("--negative-hours", type=float, default=5.0,
                   help="hours of keyword-free streams (look-alikes and sentences)")
    p.add_argument("--negative-seconds", type=float, default=1800.0,
                   help="length of each negative stream")
    p.add_argument("--snr", type=float, nargs=2, default=(5.0, 25.0), metavar=("MIN", "MAX"),
                   help="speech-to-noise ratio range in dB, drawn per stream")
    p.add_argument("--reverb-prob", type=float, default=0.5,
                   help="share of streams in a synthetic room (RT60 0.2-0.7 s)")
    p.add_argument("--keyword-clips", default=None, metavar="DIR[,DIR...]",
                   help="with --voices train or dev: `tdnn prepare tts-commands` corpora "
                        "(Kokoro, Piper); half the keywords are their clips of the streams' "
                        "split (training clips for train, validation = dev voices for dev) "
                        "spliced between eSpeak's carrier words, so streams speak with more "
                        "engines")
    p.add_argument("--lookalike-clips", default=None, metavar="DIR[,DIR...]",
                   help="as --keyword-clips, for the look-alike words (render them with "
                        "`tdnn prepare tts-commands --words lookalikes`)")
    p.add_argument("--filler-clips", default=None, metavar="DIR[,DIR...]",
                   help="as --keyword-clips, for the other speech: half the keyword-free "
                        "sentences get one of these corpora's words that is neither a keyword "
                        "nor a look-alike (e.g. `tdnn prepare tts-commands --words all`), so "
                        "other engines' voices do not only say keywords")
    p.add_argument("--kokoro-share", type=float, default=0.0, metavar="SHARE",
                   help="with --voices train or dev: share of all utterances (keywords in "
                        "their carriers, look-alikes, sentences) spoken whole by Kokoro's "
                        "voices of the streams' split (needs the kokoro extra and its voices, "
                        "docs/voices.md); keyword spans from Kokoro's predicted durations")
    p.add_argument("--lookalike-share", type=float, default=0.3, metavar="SHARE",
                   help="share of the utterances that are look-alike or partial words, in "
                        "keyword streams (beside 0.4 keywords) and negative streams; the rest "
                        "are keyword-free sentences")
    p.add_argument("--seed", type=int, default=0, help="random seed; same seed = same streams")
    p.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1),
                   help="worker processes (one stream each)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)
    c = sub.add_parser("stream-clips", formatter_class=FMT,
                       help="stream-like 1 s training clips (Speech Commands layout)",
                       description="1 s windows cut from eSpeak NG utterances as a streaming "
                                   "detector sees them: keywords in carrier phrases and next to "
                                   "other speech, look-alike words, keyword-free speech and "
                                   "keywords cut by the window edge as _unknown_ "
                                   "(data_prep/stream_clips.py). Train-set voices only; add the "
                                   "folder to training with --set data.extra_train=[DIR].")
    c.add_argument("--out", type=Path, required=True, help="folder to create (new or empty)")
    c.add_argument("--speakers", type=int, default=150,
                   help="train-set speakers, 65 clips each")
    c.add_argument("--seed", type=int, default=0, help="random seed; same seed = same clips")
    c.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1),
                   help="worker processes")
    c.set_defaults(func=run_clips)


def run_clips(args) -> int:
    """Build the stream-like clip corpus."""
    from data_prep import stream_clips

    from .build_report import report_build
    if args.speakers < 1:
        raise UserError(f"--speakers {args.speakers}: use at least 1")
    if args.jobs < 1:
        raise UserError(f"--jobs {args.jobs}: use at least 1")
    if args.out.exists() and (not args.out.is_dir() or any(args.out.iterdir())):
        raise UserError(f"--out {args.out}: exists and is not an empty folder; name a new one")
    t0 = time.time()
    summary = stream_clips.build(args.out, args.speakers, args.seed, args.jobs)
    return report_build("stream-clips", args.out, summary, time.time() - t0)


def check(args) -> None:
    """Reject impossible options, naming the flag."""
    for flag, value in (("--keyword-streams", args.keyword_streams),
                        ("--negative-hours", args.negative_hours)):
        if value < 0:
            raise UserError(f"{flag} {value}: use a number >= 0")
    for flag, value in (("--keyword-seconds", args.keyword_seconds),
                        ("--negative-seconds", args.negative_seconds)):
        if not value >= 5:
            raise UserError(f"{flag} {value}: use at least 5 seconds")
    if args.jobs < 1:
        raise UserError(f"--jobs {args.jobs}: use at least 1")
    if not 0 <= args.reverb_prob <= 1:
        raise UserError(f"--reverb-prob {args.reverb_prob}: use a share in [0, 1]")
    if args.snr[0] > args.snr[1]:
        raise UserError(f"--snr {args.snr[0]} {args.snr[1]}: MIN must not exceed MAX")
    if not 0 < args.lookalike_share <= 0.6:
        raise UserError(f"--lookalike-share {args.lookalike_share}: use a share in (0, 0.6] "
                        "(keywords take 0.4 of a keyword stream)")
    for option, folders in (("--keyword-clips", args.keyword_clips),
                            ("--lookalike-clips", args.lookalike_clips),
                            ("--filler-clips", args.filler_clips)):
        if folders is not None:
            check_clips(option, folders, args.voices)
    if args.kokoro_share:
        check_kokoro(args.kokoro_share, args.voices)
    packages = {"flite": "flite", "festival": "festival festvox-kallpc16k festvox-us-slt-hts"}
    if args.voices in packages and shutil.which(args.voices) is None:
        raise UserError(f"--voices {args.voices}: {args.voices} is not installed; apt-get "
                        f"install {packages[args.voices]}")


def check_clips(option: str, folders: str, voices: str) -> None:
    """Refuse clip corpora that are missing, unreadable or lack the words, or test streams."""
    from data_prep.kws_streams import CLIP_WORDS, engine_clips, filler_clips
    train_or_dev_only(option, voices)
    try:
        if option == "--filler-clips":
            filler_clips(folders, voices)
        else:
            engine_clips(folders, voices, CLIP_WORDS[option], option)
    except OSError as e:
        raise UserError(f"{option} {e.filename}: {e.strerror}; name folders built by "
                        "`tdnn prepare tts-commands`") from None
    except (KeyError, ValueError):
        raise UserError(f"{option} {folders}: a manifest.csv lacks word/word_start/word_end/"
                        "split; name folders built by `tdnn prepare tts-commands`") from None


def check_kokoro(share: float, voices: str) -> None:
    """Refuse a share outside (0, 1], test streams, and a Kokoro set-up without the split's
    voices (loads the engine, so a missing extra is one line here, not a failure per stream)."""
    from data_prep import kokoro_voices
    if not 0 < share <= 1:
        raise UserError(f"--kokoro-share {share}: use a share in (0, 1]")
    train_or_dev_only("--kokoro-share", voices)
    kokoro_voices.speakers(voices, 0)


def train_or_dev_only(option: str, voices: str) -> None:
    """Refuse an option that brings other engines into test streams."""
    from data_prep.kws_streams import CLIP_SPLITS
    if voices not in CLIP_SPLITS:
        raise UserError(f"{option}: train or dev streams only, not --voices {voices}: test "
                        "streams keep engines no corpus renders")


def claim(out: Path, settings: dict) -> None:
    """Make `out` this build's folder: new, empty, or an earlier build with the same settings."""
    from data_prep.kws_streams import SETTINGS
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out}: exists and is not a folder; name a new folder")
    mine = out / SETTINGS
    if out.is_dir() and any(out.iterdir()):
        try:
            earlier = json.loads(mine.read_text())
        except (OSError, ValueError):
            raise UserError(f"--out {out}: folder is not empty and holds no kws-streams build; "
                            "name a new folder") from None
        if earlier != settings:
            raise UserError(f"--out {out}: holds a kws-streams build with other options "
                            f"({mine}); use the same options to resume, or a new folder")
        return
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(mine, json.dumps(settings, indent=1) + "\n")


def run(args) -> int:
    """Plan, render (or resume) and list the streams."""
    from data_prep import kws_streams

    from .build_report import report_build
    check(args)
    negative = math.ceil(args.negative_hours * 3600 / args.negative_seconds - 1e-9)
    settings = {"voices": args.voices, "keyword_streams": args.keyword_streams,
                "keyword_seconds": args.keyword_seconds, "negative_streams": negative,
                "negative_seconds": args.negative_seconds, "snr": list(args.snr),
                "reverb_prob": args.reverb_prob, "seed": args.seed}
    clips = {key: ",".join(str(Path(d).resolve()) for d in folders.split(","))
             for key, folders in (("keyword_clips", args.keyword_clips),
                                  ("lookalike_clips", args.lookalike_clips),
                                  ("filler_clips", args.filler_clips)) if folders}
    settings |= clips
    if args.lookalike_share != kws_streams.LOOKALIKE_SHARE:
        settings["lookalike_share"] = args.lookalike_share
    if args.kokoro_share:
        settings["kokoro_share"] = args.kokoro_share
    claim(args.out, settings)
    jobs = kws_streams.plan(args.out, args.voices, args.keyword_streams, args.keyword_seconds,
                            negative, args.negative_seconds, args.seed, tuple(args.snr),
                            args.reverb_prob, clips.get("keyword_clips", ""),
                            args.lookalike_share, clips.get("lookalike_clips", ""),
                            clips.get("filler_clips", ""), args.kokoro_share)
    t0 = time.time()
    summary = kws_streams.build(args.out, jobs, args.jobs, progress=not args.quiet)
    return report_build("kws-streams", args.out, summary, time.time() - t0)
