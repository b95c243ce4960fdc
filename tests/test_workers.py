"""`data_prep.espeak.map_processes`: results in task order, and a worker that dies abruptly
(as one does when libespeak-ng crashes) costs its task a failure record, or a clear error --
never a hang."""

import errno
import multiprocessing
import os
import signal
import subprocess
import sys
import time
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


def die_on_five(x: int) -> int:
    """x * x, but the worker is killed on 5, every time."""
    if x == 5:
        os.kill(os.getpid(), signal.SIGKILL)
    return x * x


def full_disk_on_zero(x: int) -> int:
    """A fatal error on 0 at once; every other task takes five minutes."""
    if x == 0:
        raise OSError(errno.ENOSPC, "disk full")
    time.sleep(300)
    return x


def exit_quietly(_) -> None:
    """End the worker with exit code 3, as a worker that cannot start does."""
    os._exit(3)


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


def test_results_in_task_order_for_any_number_of_workers():
    tasks = [(x, None) for x in range(23)]
    for jobs in (1, 2, 5):
        assert list(espeak.map_processes(square_or_die_once, tasks, jobs)) == [
            x * x for x in range(23)]


def test_a_task_that_kills_its_worker_yields_the_callers_failure_and_the_rest_goes_on():
    # 5 sits in the chunk 4-7: 4 came back before the crash, 6 and 7 run in a fresh process
    got = list(espeak.map_processes(die_on_five, list(range(12)), 2, crashed=lambda x: -x))
    assert got == [x * x if x != 5 else -5 for x in range(12)]
    assert multiprocessing.active_children() == []


def test_a_crash_costs_only_its_own_task(tmp_path):
    tasks = [(x, str(tmp_path / "died") if x == 9 else None) for x in range(20)]
    got = list(espeak.map_processes(square_or_die_once, tasks, 2, crashed=lambda t: None))
    assert got == [x * x if x != 9 else None for x in range(20)]
    assert (tmp_path / "died").exists()  # the worker did die


def test_stopping_early_ends_the_workers():
    results = espeak.map_processes(square_or_die_once, [(x, None) for x in range(40)], 2)
    assert next(results) == 0
    results.close()
    assert multiprocessing.active_children() == []


def test_without_a_failure_record_a_dying_task_is_a_user_error():
    with pytest.raises(UserError, match="worker process died"):
        list(espeak.map_processes(always_die, [1, 2], 1))


def test_a_worker_that_exits_without_a_signal_is_an_error_not_a_crash_record():
    with pytest.raises(RuntimeError, match="exit code 3"):
        list(espeak.map_processes(exit_quietly, [1, 2], 1, crashed=lambda x: None))


def test_an_error_in_a_worker_ends_the_other_workers_and_the_program():
    # the error reaches the caller at once; the worker still busy with its five-minute task must
    # be ended too, or the interpreter waits for it at exit (ProcessPoolExecutor joins them)
    script = ("import sys; sys.path.insert(0, sys.argv[1]); import test_workers\n"
              "from data_prep import espeak\n"
              "try:\n"
              "    list(espeak.map_processes(test_workers.full_disk_on_zero, list(range(8)), 2))\n"
              "except OSError as e:\n"
              "    print('stopped:', e.strerror)\n")
    done = subprocess.run([sys.executable, "-c", script, str(Path(__file__).parent)],
                          capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).parent.parent)
    assert done.returncode == 0 and done.stdout.strip() == "stopped: disk full", done.stderr
