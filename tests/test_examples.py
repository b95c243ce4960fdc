"""The example scripts run, check their own claims, and write the figures the docs show."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted(p for p in (ROOT / "examples").glob("*.py") if not p.name.startswith("_"))
DOC_FIGURES = {p.name for p in (ROOT / "docs" / "img").glob("*.png")}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def example_ids():
    return [p.stem for p in EXAMPLES]


@pytest.mark.parametrize("script", EXAMPLES, ids=example_ids())
def test_example_runs_checks_and_writes_figures(script, tmp_path):
    out = tmp_path / "figures"
    proc = subprocess.run([sys.executable, str(script), "--out", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    claims = re.findall(r"^\[(ok|FAILED)\] ", proc.stdout, re.M)
    assert claims and set(claims) == {"ok"}, proc.stdout
    written = re.findall(r"^wrote (.+)$", proc.stdout, re.M)
    assert written, "the example wrote no figure"
    for name in written:
        path = Path(name)
        assert path.parent == out
        assert path.read_bytes()[:8] == PNG_SIGNATURE and path.stat().st_size > 5000
        assert path.name in DOC_FIGURES, f"{path.name} is not under docs/img (the docs show it)"


def test_every_docs_figure_comes_from_an_example():
    sources = "".join(p.read_text() for p in EXAMPLES)
    for name in DOC_FIGURES:
        assert f'"{Path(name).stem}"' in sources, f"docs/img/{name} is written by no example"


def test_failed_claim_stops_the_script(tmp_path):
    sys.path.insert(0, str(ROOT / "examples"))
    try:
        from _common import check
    finally:
        sys.path.pop(0)
    check("holds", True)
    with pytest.raises(SystemExit, match="claim failed: does not hold"):
        check("does not hold", False)
