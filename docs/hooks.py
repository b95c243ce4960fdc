"""MkDocs hooks: the CLI reference from `tdnn ... --help`, recipe READMEs pulled into their pages,
and a placeholder for pages other people have not written yet.

Markers a page can hold (each alone on a line):
    <!-- tdnn-cli -->                         every `tdnn` subcommand's --help text
    <!-- include: recipes/NAME/README.md -->  that file (repo-relative), links made plain text
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLI_MARKER = "<!-- tdnn-cli -->"
INCLUDE = re.compile(r"^<!-- include: (\S+) -->$", re.M)
# Pages listed in the nav that others write; a stub stands in until they exist.
OPTIONAL_PAGES = {"benchmarks.md": "# Benchmarks\n\nNo benchmark results have been written yet.\n"}
HELP_COLUMNS = "100"


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """The sub-parsers of `parser` by name (empty when it has none)."""
    for action in parser._actions:  # argparse keeps them nowhere public
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def recipe_parsers() -> dict[str, argparse.ArgumentParser]:
    """Each recipe's own parser (`tdnn recipe NAME` hands its options to `build_parser()` of
    recipes/<name>/run.py), for the recipes that define one."""
    from tdnn.cli import recipe
    out = {}
    for name, module_name in recipe.available().items():
        module = importlib.import_module(module_name)
        if hasattr(module, "build_parser"):
            out[name] = module.build_parser()
    return out


def help_texts(parser: argparse.ArgumentParser | None = None) -> list[tuple[str, str]]:
    """(command line, --help text) for `tdnn` and every subcommand, depth first, at a fixed width;
    after `tdnn recipe`, each recipe's own options."""
    from tdnn.cli import build_parser
    os.environ["COLUMNS"] = HELP_COLUMNS
    parser = parser or build_parser()
    out = [(parser.prog, parser.format_help())]
    for child in subcommands(parser).values():
        out += help_texts(child)
    if parser.prog == "tdnn recipe":
        out += [(f"tdnn recipe {name}", p.format_help()) for name, p in recipe_parsers().items()]
    return out


def cli_markdown() -> str:
    """One section per command with its --help text in a code block."""
    parts = []
    for prog, text in help_texts():
        depth = "##" if prog == "tdnn" else "#" * min(2 + prog.count(" "), 4)
        parts.append(f"{depth} `{prog}`\n\n```text\n{text.rstrip()}\n```\n")
    return "\n".join(parts)


def plain_links(markdown: str) -> str:
    """Relative links and images of an included file as plain text (they point outside docs/)."""
    def repl(m: re.Match) -> str:
        bang, text, target = m.groups()
        if re.match(r"[a-z]+://|#|mailto:", target):
            return m.group(0)
        return f"{text} (`{target}`)" if not bang else f"*(figure: `{target}`)*"
    return re.sub(r"(!?)\[([^\]]*)\]\(([^)\s]+)\)", repl, markdown)


def include(match: re.Match) -> str:
    """The repo file a marker names, headings one level down, or a note that it is missing."""
    path = ROOT / match.group(1)
    if not path.is_file():
        return f"!!! note\n    `{match.group(1)}` has not been written yet.\n"
    text = plain_links(path.read_text(encoding="utf-8"))
    return re.sub(r"^(#+) ", r"#\1 ", text, flags=re.M)


def on_files(files, config):
    """Stand-ins for nav pages that do not exist yet (so a strict build does not fail on them)."""
    from mkdocs.structure.files import File
    for name, content in OPTIONAL_PAGES.items():
        if files.get_file_from_path(name) is None:
            files.append(File.generated(config, name, content=content))
    return files


def on_page_markdown(markdown, page, config, files):
    """Expand the CLI marker and include markers."""
    if CLI_MARKER in markdown:
        markdown = markdown.replace(CLI_MARKER, cli_markdown())
    return INCLUDE.sub(include, markdown)
