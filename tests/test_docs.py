"""The documentation site builds with warnings as errors, and every command it shows is checked:
`tdnn` commands parse with the real parser (the cheap ones run), `make` targets exist and their
`tdnn` lines parse, example scripts are the ones tests/test_examples.py runs."""

import contextlib
import importlib.util
import io
import os
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from data_prep.words import resolve
from tdnn.cli import build_parser, main

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"


def load_hooks():
    spec = importlib.util.spec_from_file_location("docs_hooks", DOCS / "hooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


hooks = load_hooks()


def shown_files() -> list[Path]:
    """Markdown the site shows: docs pages, the README, and the recipe READMEs pages include."""
    pages = sorted(DOCS.rglob("*.md"))
    included = [ROOT / m for p in pages for m in hooks.INCLUDE.findall(p.read_text())]
    return pages + [ROOT / "README.md"] + [p for p in included if p.is_file()]


def bash_commands(text: str) -> list[list[str]]:
    """Simple commands in ```bash blocks: comments dropped, continuations joined, lists split at
    ; & && || |, loop headers and keywords dropped, env assignments dropped, `$VAR` read as 1,
    `torchrun ... -m tdnn` and `python -m tdnn` read as `tdnn`."""
    commands = []
    for block in re.findall(r"^```(?:bash|sh|shell|console)\n(.*?)^```", text, re.M | re.S):
        for line in block.replace("\\\n", " ").splitlines():
            lexer = shlex.shlex(line.removeprefix("$ "), posix=True, punctuation_chars=";&|")
            lexer.whitespace_split = True
            segment: list[str] = []
            for token in [*lexer, ";"]:
                if token.strip(";&|"):
                    segment.append(re.sub(r"\$\{?\w+\}?", "1", token))
                    continue
                words = simple_command(segment)
                if words:
                    commands.append(words)
                segment = []
    return commands


def simple_command(words: list[str]) -> list[str]:
    """One command's words without shell syntax around it (empty for a loop header or keyword)."""
    while words and re.match(r"^[A-Za-z_]\w*=", words[0]):
        words = words[1:]
    if words and words[0] in ("do", "then", "else"):
        words = words[1:]
    if not words or words[0] in ("for", "while", "done", "fi", "wait"):
        return []
    if words[0] in ("torchrun", "python", "python3") and "-m" in words:
        at = words.index("-m")
        if words[at + 1:at + 2] == ["tdnn"]:
            return ["tdnn", *words[at + 2:]]
    return words


def parse(parser, argv: list[str]):
    """(namespace, None) if `argv` parses, (None, None) if it asks for --help (exit 0),
    (None, the parser's error line) otherwise."""
    err = io.StringIO()
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
            return parser.parse_args(argv), None
    except SystemExit as e:
        return None, (None if e.code == 0 else err.getvalue().strip().splitlines()[-1])


def tdnn_problem(argv: list[str]) -> str | None:
    """Why `tdnn argv...` would not parse (None if it parses); `tdnn recipe NAME ...` options
    are parsed with that recipe's own parser."""
    args, problem = parse(build_parser(), argv)
    if args is None:
        return problem
    if not getattr(args, "func", None):
        return "no subcommand"
    if args.command == "recipe" and args.name in hooks.recipe_parsers():
        return parse(hooks.recipe_parsers()[args.name], args.args)[1]
    return None


def make_targets() -> dict[str, list[str]]:
    """Makefile target -> its recipe lines."""
    targets, current = {}, None
    for line in (ROOT / "Makefile").read_text().splitlines():
        m = re.match(r"^([A-Za-z][\w-]*):", line)
        if m:
            current = targets.setdefault(m.group(1), [])
        elif line.startswith("\t") and current is not None:
            current.append(line.strip())
    return targets


def command_problem(words: list[str]) -> str | None:
    """Why a shown command is not covered by a test or an example (None if it is)."""
    prog, rest = words[0], words[1:]
    if prog == "tdnn":
        return tdnn_problem(rest)
    if prog == "make":
        missing = [t for t in rest if t not in make_targets()]
        return f"no Makefile target {missing}" if missing else None
    if prog in ("python", "python3") and rest and rest[0] == "-m":
        return None if importlib.util.find_spec(rest[1]) else f"no module {rest[1]}"
    if prog in ("python", "python3") and rest:
        script = ROOT / rest[0]
        if not script.is_file():
            return f"no script {rest[0]}"
        if script.parent == ROOT / "examples" and script.name.startswith("_"):
            return "helper module, not an example"
        return None
    if prog == "pip" and rest[:2] == ["install", "-e"]:
        extras = re.findall(r"\[(.*)\]", rest[2])
        known = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
            "optional-dependencies"]
        bad = [e for e in (extras[0].split(",") if extras else []) if e not in known]
        return f"no extra {bad} in pyproject.toml" if bad else None
    if prog in (".", "source") and rest == [".venv/bin/activate"]:
        return None if "VENV ?= .venv" in (ROOT / "Makefile").read_text() else "no .venv"
    if words[:2] == ["mkdocs", "build"]:
        return None  # test_site_builds_strict runs it
    return "not a command these tests know how to check"


def shown_commands() -> list[tuple[str, list[str]]]:
    return [(str(path.relative_to(ROOT)), words)
            for path in shown_files() for words in bash_commands(path.read_text())]


def test_docs_show_commands():
    files = {f for f, _ in shown_commands()}
    assert {"docs/index.md", "docs/concepts.md", "README.md"} <= files


@pytest.mark.parametrize("where,words", shown_commands(),
                         ids=[f"{f}:{' '.join(w)[:40]}" for f, w in shown_commands()])
def test_shown_command_is_checked(where, words):
    problem = command_problem(words)
    assert problem is None, f"{where}: `{shlex.join(words)}`: {problem}"


def test_cheap_tdnn_commands_run(capsys):
    cheap = [w for _, w in shown_commands()
             if w[0] == "tdnn" and (w[1:2] == ["model"] or "--help" in w)]
    assert cheap, "the docs show no cheap tdnn command"
    for words in cheap:
        try:
            rc = main(words[1:])
        except SystemExit as e:  # --help
            rc = e.code
        assert rc == 0, shlex.join(words)
        assert capsys.readouterr().out.strip()


def test_shown_corpus_command_runs(tmp_path, capsys):
    shown = [w for _, w in shown_commands() if w[:3] == ["tdnn", "prepare", "synth-commands"]]
    assert shown, "the docs show no corpus command"
    for words in shown:
        argv = list(words[1:])
        argv[argv.index("--out") + 1] = str(tmp_path / "corpus")
        assert main([*argv, "--quiet", "--overwrite"]) == 0, shlex.join(words)
        clips = list((tmp_path / "corpus").glob("*/*_nohash_*.wav"))
        words_spec = argv[argv.index("--words") + 1]
        speakers = int(argv[argv.index("--speakers") + 1])
        assert len(clips) == speakers * len(resolve(words_spec))


def test_make_targets_shown_run_parsable_tdnn_commands():
    targets = make_targets()
    shown = {t for _, w in shown_commands() if w[0] == "make" for t in w[1:]}
    for target in shown:
        for line in targets[target]:
            words = shlex.split(line.replace("$(BIN)/", ""))
            if words and words[0] == "tdnn":
                problem = tdnn_problem(words[1:])
                assert problem is None, f"make {target}: `{line}`: {problem}"


def test_stated_kws_receptive_field_matches_the_model():
    from tdnn.models import build_model, preset_config, summary
    text = (DOCS / "index.md").read_text()
    stated = re.search(r"receptive field \((\d+)\s+frames, (\d+) ms\)", text)
    info = summary(build_model(preset_config("kws"), 40, 12), 40)
    assert stated and (int(stated[1]), int(stated[2])) == (
        info["receptive_field_frames"], round(info["receptive_field_ms"]))


def test_getting_started_shows_the_readme_commands():
    """The README's set-up commands (its first bash block) open the getting-started page too."""
    readme = (ROOT / "README.md").read_text()
    setup = bash_commands(readme[readme.index("```bash"):readme.index("```", readme.index("```bash") + 3) + 3])
    index = bash_commands((DOCS / "index.md").read_text())
    assert setup == [["make", "demo"], ["make", "test"]] and all(c in index for c in setup)


def test_python_snippets_run():
    snippets = [(page, code) for page in sorted(DOCS.rglob("*.md"))
                for code in re.findall(r"^```python\n(.*?)^```", page.read_text(), re.M | re.S)]
    assert snippets, "the docs show no python snippet"
    for page, code in snippets:
        exec(compile(code, str(page), "exec"), {})


def test_checker_rejects_drifted_commands():
    assert command_problem(["tdnn", "model", "summary", "kws", "--no-such-option"])
    assert command_problem(["tdnn", "no-such-command"])
    assert command_problem(["tdnn"])
    assert command_problem(["make", "no-such-target"])
    assert command_problem(["python", "examples/no_such_example.py"])
    assert command_problem(["pip", "install", "-e", ".[no-such-extra]"])
    assert command_problem(["rm", "-rf", "runs"])
    shell = "X=1 torchrun --nproc-per-node=2 -m tdnn model summary kws; for i in 1 2; do " \
            "tdnn model summary $i & done; wait"
    assert bash_commands(f"```bash\n{shell}\n```\n") == [
        ["tdnn", "model", "summary", "kws"], ["tdnn", "model", "summary", "1"]]
    assert command_problem(["tdnn", "--help"]) is None
    assert command_problem(["tdnn", "recipe", "speech-commands", "--no-such-option"])
    assert command_problem(["tdnn", "recipe", "no-such-recipe"])


def test_include_hook_makes_outside_links_plain(tmp_path):
    text = "See [run.py](run.py), ![curve](runs/x.png), [web](https://example.org), [top](#a)."
    out = hooks.plain_links(text)
    assert out == ("See run.py (`run.py`), *(figure: `runs/x.png`)*, [web](https://example.org), "
                   "[top](#a).")
    missing = hooks.INCLUDE.search("<!-- include: recipes/none/README.md -->")
    assert "has not been written yet" in hooks.include(missing)


@pytest.mark.slow
def test_site_builds_strict(tmp_path):
    site = tmp_path / "site"
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet",
                           "--site-dir", str(site)], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    cli = (site / "cli" / "index.html").read_text()
    for prog, _ in hooks.help_texts():
        assert f"usage: {prog}" in cli, f"CLI reference lacks {prog}"
    layers = (site / "api" / "layers" / "index.html").read_text()
    for name in ("TDNNLayer", "TimePool", "ScanningMLP", "receptive_field"):
        assert f'id="tdnn.layers.{name}"' in layers
    concepts = (site / "concepts" / "index.html").read_text()
    for png in (DOCS / "img").glob("*.png"):
        assert f"img/{png.name}" in concepts and (site / "img" / png.name).is_file()
