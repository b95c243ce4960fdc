"""Worker processes that die with their parent, so a killed command stops writing at once."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys

PR_SET_PDEATHSIG = 1


def die_with_parent(parent_pid: int) -> None:
    """Pool initializer: ask Linux to SIGKILL this process when its parent dies.

    Exits at once if the parent is already gone (it died before the request took effect).
    Elsewhere than Linux this does nothing: the pool's own shutdown is all there is.
    """
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent_pid:
        os._exit(1)
