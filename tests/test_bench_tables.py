"""docs/benchmarks.md's tables are the committed bench/results JSON, rendered by bench/tables.py."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_benchmark_doc_tables_match_the_results_json():
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "tables.py"), "--check"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_a_changed_figure_is_caught():
    sys.path.insert(0, str(ROOT / "bench"))
    import tables
    doc = tables.DOC.read_text()
    edited = doc.replace("| librosa (per clip) | ", "| librosa (per clip) | 9", 1)
    assert edited != doc and tables.render(edited) == doc
