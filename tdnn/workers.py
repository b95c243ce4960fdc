"""Worker processes that stop with their parent, so a killed command stops writing at once.

A worker remembers its parent's pid when it starts and checks it before each piece of work
(each clip): once the parent is gone the worker is re-parented and exits. Polling, not
PR_SET_PDEATHSIG: that signal follows the parent *thread*, and multiprocessing starts
replacement workers from a helper thread whose exit then killed them mid-task (a pool hang).
"""

from __future__ import annotations

import os

_PARENT: int | None = None


def remember_parent(parent_pid: int) -> None:
    """Pool initializer: record the parent; exit at once if it is already gone."""
    global _PARENT
    _PARENT = parent_pid
    stop_if_orphaned()


def stop_if_orphaned() -> None:
    """Exit this worker when the parent that started it has died (no-op outside workers)."""
    if _PARENT is not None and os.getppid() != _PARENT:
        os._exit(1)
