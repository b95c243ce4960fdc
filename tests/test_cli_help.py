"""`tdnn --help`, every `tdnn <cmd> --help` and argument errors import no torch, librosa or
matplotlib (measured with `python -X importtime`), and the names the parsers spell out for that
reason equal the library's."""

import subprocess
import sys

import pytest

from tdnn.cli import COMMANDS
from tdnn.cli.evaluate import SPLITS
from tdnn.cli.model import PRESET_NAMES
from tdnn.data import speech_commands as sc
from tdnn.models import PRESETS

HEAVY = {"torch", "librosa", "matplotlib"}


def imported_modules(*argv: str) -> tuple[set[str], int]:
    """Top-level packages `python -m tdnn ARGV` imports, from -X importtime, and its exit code."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "tdnn", *argv],
                          capture_output=True, text=True, timeout=120)
    names = {line.split("|")[-1].strip().split(".")[0]
             for line in done.stderr.splitlines() if line.startswith("import time:")}
    return names, done.returncode


@pytest.mark.parametrize("argv", [["--help"], *[[c, "--help"] for c in COMMANDS],
                                  ["prepare", "synth-commands", "--help"],
                                  ["recipe", "speech-commands", "--help"],
                                  ["recipe", "pooling-ablation", "--help"],
                                  ["recipe", "phonemes", "--help"],
                                  ["train"], ["features", "x.wav"]])
def test_help_and_argument_errors_import_nothing_heavy(argv):
    names, code = imported_modules(*argv)
    assert code in (0, 2)
    assert "tdnn" in names and not names & HEAVY, sorted(names & HEAVY)


def test_names_spelled_out_for_the_parsers_match_the_library():
    from data_prep.kws_streams import LOOKALIKE_SHARE
    from tdnn.cli import build_parser
    assert PRESET_NAMES == tuple(PRESETS)
    assert SPLITS == tuple(sc.SPLITS)
    args = build_parser().parse_args(["prepare", "kws-streams", "--out", "x"])
    assert args.lookalike_share == LOOKALIKE_SHARE
