"""`data_prep.espeak.map_processes`: results in task order, and a worker that dies abruptly
(as one does when libespeak-ng crashes) costs a fresh pool, or a clear error -- never a hang."""

import os
import signal
from pathlib import Path

import pytest

from data_prep import espeak
from tdnn.errors import UserError


def square_or_die_once(task: tuple) -> int:
    """x * x; the worker is killed the first time it meets a marker path not yet on disk."""
    x, marker = task
    if marker and not os.path.exists(marker):
        Path(marker).touch()
        os.kill(os.getpid(), signal.SIGKILL)
    return x * x


def always_die(_) -> None:
    """Kill the worker that runs it."""
    os.kill(os.getpid(), signal.SIGKILL)


@pytest.fixture(autouse=True)
def no_hang():
    """Fail a test that waits for dead workers instead of hanging the run."""
    def hung(*_):
        raise TimeoutError("map_processes hung on a dead worker")
    old = signal.signal(signal.SIGALRM, hung)
    signal.alarm(180)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


def test_results_in_order_when_a_worker_dies_once(tmp_path):
    tasks = [(x, str(tmp_path / "died") if x == 9 else None) for x in range(20)]
    assert list(espeak.map_processes(square_or_die_once, tasks, 2)) == [x * x for x in range(20)]
    assert (tmp_path / "died").exists()  # the worker did die once


def test_a_worker_that_always_dies_stops_with_a_user_error():
    with pytest.raises(UserError, match=f"died {espeak.MAX_CRASHES + 1} times"):
        list(espeak.map_processes(always_die, [1, 2], 1))
