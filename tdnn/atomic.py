"""Safe file output: atomic writes, paths kept inside an output folder, names printed on one line.

No torch here, so corpus-building worker processes can use it cheaply.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .errors import UserError


def atomic_write_bytes(path: str | Path, write, durable: bool = True) -> None:
    """Call `write(fileobj)` on a temporary file beside `path`, then rename it into place.

    A crash or a full disk leaves the old file (or none), never a half-written one; an OSError
    raised without a file name gets `path` as its name. `durable=False` skips the fsync (enough
    for kill -9 safety, much cheaper for many small files).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            if durable:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        if e.filename is None:
            raise OSError(e.errno, e.strerror or str(e), str(path)) from None
        raise
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | Path, text: str, durable: bool = True) -> None:
    """Write `text` (UTF-8) to `path` atomically."""
    data = text.encode()
    atomic_write_bytes(path, lambda f: f.write(data), durable)


def inside(root: str | Path, relative: str | Path, what: str) -> Path:
    """`root / relative`, refusing a path that would resolve outside `root` (`what` names it)."""
    root = Path(root)
    target = root / relative
    base = root.resolve()
    if Path(relative).is_absolute() or not target.resolve().is_relative_to(base):
        raise UserError(f"{what}: output {target} would be written outside {root}; "
                        "give paths below the input folder or list file")
    return target


def printable(name: str | Path) -> str:
    r"""A file name on one line: backslash, newline, CR and tab escaped (\\ \n \r \t)."""
    return (str(name).replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")
            .replace("\t", "\\t"))
