r"""`tdnn prepare`: build the embedded synthetic corpora with eSpeak NG.

    tdnn prepare synth-commands --out data/synth_commands   # Speech Commands layout
    tdnn prepare synth-phones --out data/synth_timit        # TIMIT layout, aligned phones
    tdnn prepare synth-bdg --out data/synth_bdg             # b/d/g + vowel syllables
    tdnn prepare heldout-tts --out data/heldout_tts         # Flite/Festival test voices
    tdnn prepare kws-streams --out data/streams_dev --voices dev   # keyword + negative streams

A build records the files it will write first (OUT/.tdnn-prepare.json) and marks the corpus
complete last (OUT/.tdnn-complete); train/evaluate refuse a corpus whose build was interrupted.

Hold voices out to measure robustness to voices training never heard, e.g.
    tdnn prepare synth-commands --out data/sc_train --exclude-accents en-029,en-gb-scotland \
        --exclude-variants klatt,klatt2,f3,m7
    tdnn prepare synth-commands --out data/sc_heldout --accents en-029,en-gb-scotland \
        --variants klatt,klatt2,f3,m7 --speakers 40 --seed 1
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from data_prep import heldout_tts

from ..errors import UserError
from . import prepare_streams, prepare_tts
from .build_report import report_build

NAME = "prepare"
FMT = argparse.ArgumentDefaultsHelpFormatter


def register(subparsers) -> None:
    """Add `tdnn prepare` and its corpus subcommands."""
    p = subparsers.add_parser(NAME, help="build the synthetic corpora (eSpeak NG)",
                              description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="corpus", metavar="CORPUS", required=True)
    _commands_parser(sub)
    _phones_parser(sub)
    _bdg_parser(sub)
    heldout_tts.register(sub)
    prepare_tts.register(sub)
    prepare_streams.register(sub)


def _common(p: argparse.ArgumentParser, speakers: int) -> None:
    """Options every synthetic corpus shares."""
    p.add_argument("--out", type=Path, required=True, help="folder to create (must be new or empty "
                   "unless --overwrite)")
    p.add_argument("--speakers", type=int, default=speakers,
                   help="number of synthetic speakers (accent x variant x rate x pitch x range)")
    p.add_argument("--seed", type=int, default=0, help="random seed; same seed = same files")
    p.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1),
                   help="worker processes (libespeak-ng is not thread safe; one per process)")
    p.add_argument("--accents", default="all",
                   help="comma list of eSpeak English accents to use, or 'all' "
                        "(en-us, en, en-gb-scotland, en-gb-x-rp, en-029, en-us-nyc, "
                        "en-gb-x-gbclan, en-gb-x-gbcwmd)")
    p.add_argument("--exclude-accents", default="",
                   help="comma list of accents to leave out (hold them out for evaluation)")
    p.add_argument("--variants", default="all",
                   help="comma list of voice variants (voices/!v names such as m3,f2,klatt; "
                        "'none' = the accent's own voice), or 'all'")
    p.add_argument("--exclude-variants", default="",
                   help="comma list of voice variants to leave out (hold them out for evaluation)")
    p.add_argument("--overwrite", action="store_true",
                   help="write into an existing non-empty --out folder: files an earlier build "
                        "recorded are removed first, files it did not make are kept")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _commands_parser(sub) -> None:
    p = sub.add_parser("synth-commands", formatter_class=FMT,
                       help="keyword clips in the Speech Commands layout",
                       description="Synthesise 1 s keyword clips in the exact Speech Commands "
                                   "layout (word folders, hashing-based split lists, "
                                   "_background_noise_, manifest.csv).")
    _common(p, speakers=300)
    p.add_argument("--words", default="all",
                   help="comma list of word sets (commands, kws10, unknown, pairs, lookalikes, "
                        "all) and/or plain words")
    p.add_argument("--repeats", type=int, default=1,
                   help="clips per word per speaker (each with jittered rate and pitch)")
    p.add_argument("--noise-seconds", type=float, default=60.0,
                   help="length of each _background_noise_ file (0 = no noise files)")
    p.set_defaults(func=run_commands)


def _phones_parser(sub) -> None:
    p = sub.add_parser("synth-phones", formatter_class=FMT,
                       help="aligned sentences in the TIMIT layout",
                       description="Synthesise random sentences with phone alignments from "
                                   "eSpeak's phoneme events, written as "
                                   "{TRAIN,TEST}/<DR>/<SPK>/<UTT>.WAV + .PHN + .WRD + .TXT "
                                   "(TIMIT-61 phone symbols; see data_prep/phonemap.py).")
    _common(p, speakers=60)
    p.add_argument("--sentences", type=int, default=10, help="sentences per speaker")
    p.add_argument("--test-fraction", type=float, default=0.25,
                   help="share of speakers put in TEST")
    p.set_defaults(func=run_phones)


def _bdg_parser(sub) -> None:
    p = sub.add_parser("synth-bdg", formatter_class=FMT,
                       help="b/d/g + vowel syllables for the Waibel task",
                       description="Synthesise consonant-vowel syllables /b/ /d/ /g/ x vowels "
                                   "(<consonant>/<speaker>_nohash_<n>.wav, Speech Commands "
                                   "layout) with the consonant onset and release in manifest.csv.")
    _common(p, speakers=60)
    p.add_argument("--repeats", type=int, default=1, help="tokens per syllable per speaker")
    p.set_defaults(func=run_bdg)


def _prepare_out(args) -> Path:
    """The output folder, refusing to mix a new corpus into an existing one."""
    out: Path = args.out
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out}: exists and is not a folder; name a new folder")
    if out.is_dir() and any(out.iterdir()) and not args.overwrite:
        raise UserError(f"--out {out}: folder is not empty; name a new folder or pass --overwrite")
    if args.jobs < 1:
        raise UserError(f"--jobs must be at least 1, got {args.jobs}")
    return out


def _voices(args) -> tuple[list[str], list[str]]:
    """Accents and variants kept by the include/exclude options."""
    from data_prep import espeak
    from data_prep.synth_commands import all_variants, select
    accents = select(args.accents, args.exclude_accents, list(espeak.ENGLISH_ACCENTS), "--accents")
    variants = select(args.variants, args.exclude_variants, all_variants(), "--variants")
    return accents, variants


def run_commands(args) -> int:
    """Build the synthetic Speech Commands corpus."""
    from data_prep import synth_commands, words
    out = _prepare_out(args)
    accents, variants = _voices(args)
    word_list = words.resolve(args.words)
    if args.repeats < 1:
        raise UserError(f"--repeats must be at least 1, got {args.repeats}")
    speakers = synth_commands.make_speakers(args.speakers, args.seed, accents, variants)
    t0 = time.time()
    summary = synth_commands.build(out, speakers, word_list, seed=args.seed, repeats=args.repeats,
                                   jobs=args.jobs, noise_seconds=args.noise_seconds,
                                   progress=not args.quiet)
    return report_build("synth-commands", out, summary, time.time() - t0)


def run_phones(args) -> int:
    """Build the synthetic TIMIT-layout phone corpus."""
    from data_prep import synth_phones
    out = _prepare_out(args)
    accents, variants = _voices(args)
    if args.sentences < 1:
        raise UserError(f"--sentences must be at least 1, got {args.sentences}")
    if not 0.0 <= args.test_fraction < 1.0:
        raise UserError(f"--test-fraction must be in [0, 1), got {args.test_fraction}")
    t0 = time.time()
    summary = synth_phones.build_timit(out, args.speakers, args.sentences, seed=args.seed,
                                       accents=accents, variants=variants,
                                       test_fraction=args.test_fraction, jobs=args.jobs,
                                       progress=not args.quiet)
    return report_build("synth-phones", out, summary, time.time() - t0)


def run_bdg(args) -> int:
    """Build the synthetic b/d/g syllable corpus."""
    from data_prep import synth_phones
    out = _prepare_out(args)
    accents, variants = _voices(args)
    if args.repeats < 1:
        raise UserError(f"--repeats must be at least 1, got {args.repeats}")
    t0 = time.time()
    summary = synth_phones.build_bdg(out, args.speakers, seed=args.seed, accents=accents,
                                     variants=variants, repeats=args.repeats, jobs=args.jobs,
                                     progress=not args.quiet)
    return report_build("synth-bdg", out, summary, time.time() - t0)
