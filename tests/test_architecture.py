"""The layers of the package (docs/architecture.md): core `tdnn` < `data_prep` < `tdnn.experiments`
< `recipes` < `tdnn.cli`. Every import, also one inside a function, goes to the same layer or a
lower one, and no modules import each other in a circle. A script's `if __name__ == "__main__":`
block is an entry point like the CLI, so its imports are not counted."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("tdnn", "data_prep", "recipes")
LAYERS = [("tdnn.cli", 4), ("tdnn.__main__", 4), ("recipes", 3), ("tdnn.experiments", 2),
          ("data_prep", 1), ("tdnn", 0)]


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer(module: str) -> int | None:
    """The layer of one of the project's modules (None for outside packages)."""
    for prefix, level in LAYERS:
        if module == prefix or module.startswith(prefix + "."):
            return level
    return None


def is_main_block(node: ast.stmt) -> bool:
    """`if __name__ == "__main__":` at module level."""
    return (isinstance(node, ast.If) and isinstance(node.test, ast.Compare)
            and isinstance(node.test.left, ast.Name) and node.test.left.id == "__name__")


def imports(path: Path, known: set[str], root: Path = ROOT) -> set[str]:
    """The project's modules one file imports anywhere in it (relative imports resolved)."""
    name = module_name(path, root)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    tree = ast.parse(path.read_text())
    tree.body = [n for n in tree.body if not is_main_block(n)]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([base] if base else []))
            targets = [f"{base}.{a.name}" for a in node.names] + [base]
        else:
            continue
        for target in targets:
            while target and target not in known:  # `from pkg import name`: name may be a value
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def graph() -> dict[str, set[str]]:
    files = [p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")]
    known = {module_name(p) for p in files}
    return {module_name(p): imports(p, known) for p in files}


def test_no_module_imports_from_a_layer_above_it():
    upward = [f"{m} (layer {layer(m)}) imports {t} (layer {layer(t)})"
              for m, targets in graph().items() for t in targets
              if layer(t) is not None and layer(t) > layer(m)
              and not (m.endswith("__init__") or t.startswith(m + "."))]
    assert not upward, "\n".join(upward)


def test_no_import_cycles():
    g = graph()
    # a package's __init__ importing its own modules is not a cycle of the design
    edges = {m: {t for t in ts if not t.startswith(m + ".")} for m, ts in g.items()}
    state, cycles = {}, []

    def visit(m, stack):
        state[m] = "open"
        stack.append(m)
        for t in sorted(edges.get(m, ())):
            if state.get(t) == "open":
                cycles.append(" -> ".join(stack[stack.index(t):] + [t]))
            elif t not in state:
                visit(t, stack)
        stack.pop()
        state[m] = "done"

    for m in sorted(edges):
        if m not in state:
            visit(m, [])
    assert not cycles, "\n".join(cycles)


def test_the_walker_sees_imports_inside_functions_but_not_script_entries(tmp_path):
    (tmp_path / "tdnn").mkdir()
    probe = tmp_path / "tdnn" / "probe.py"
    probe.write_text("import os\n\ndef f():\n    from .models import build_model\n\n"
                     "if __name__ == '__main__':\n    from tdnn.cli import main\n")
    known = {"tdnn.models", "tdnn.cli"}
    assert imports(probe, known, root=tmp_path) == {"tdnn.models"}
