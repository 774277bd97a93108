"""The heavy-job lock: a training run and a benchmark never run beside each other (liveengine/job_lock.py).

The holder is a real second process; the lock file lies in the test run's own cache folder (LIVEENGINE_CACHE).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from liveengine.cli import main
from liveengine.job_lock import HELD, heavy_job, lock_path

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def holder():
    """A process holding the lock as a benchmark would, until its stdin closes."""
    code = ("import sys; from liveengine.job_lock import heavy_job\n"
            "with heavy_job('the benchmarks (bench/run.py)'):\n    print('held', flush=True); sys.stdin.read()\n")
    env = {k: v for k, v in os.environ.items() if k != HELD}
    child = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env, cwd=REPO)
    assert child.stdout.readline().strip() == "held"
    yield child
    child.stdin.close()
    child.wait(timeout=30)


def test_train_refuses_beside_a_benchmark_and_runs_after_it(holder, tmp_path, capsys):
    from tests.training.test_train_folder import kit

    folder = kit(tmp_path / "sounds")
    pytest.importorskip("torch")  # the lock is taken after the check for PyTorch
    assert main(["train", str(folder), "--out", str(tmp_path / "m")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"liveengine: the benchmarks (bench/run.py) (pid {holder.pid}, since ")
    assert err.endswith("is running on this machine; training and benchmarks skew each other's figures, so a training run "
                        f"(liveengine train {folder}) does not start beside it. Run this again when it has finished.")
    assert not (tmp_path / "m").exists()
    holder.stdin.close()
    holder.wait(timeout=30)
    with heavy_job("a test"):  # released when its holder ended
        assert os.environ[HELD] == str(os.getpid())
    assert HELD not in os.environ and lock_path().read_text() == ""


def test_a_benchmark_refuses_beside_a_training_run(tmp_path):
    code = ("import sys; from liveengine.job_lock import heavy_job\n"
            "with heavy_job('a training run (liveengine train kit)'):\n    print('held', flush=True); sys.stdin.read()\n")
    env = {k: v for k, v in os.environ.items() if k != HELD}
    trainer = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env, cwd=REPO)
    try:
        assert trainer.stdout.readline().strip() == "held"
        bench = subprocess.run([sys.executable, str(REPO / "bench" / "train_own.py"), "--work", str(tmp_path / "w")], capture_output=True,
                               text=True, timeout=60, env={**env, "PYTHONPATH": str(REPO)}, cwd=tmp_path)
    finally:
        trainer.stdin.close()
        trainer.wait(timeout=30)
    assert bench.returncode == 1
    assert bench.stderr.startswith(f"bench: a training run (liveengine train kit) (pid {trainer.pid}, since ")
    assert "so the training benchmark (bench/train_own.py) does not start beside it." in bench.stderr
    assert not (tmp_path / "w").exists()


def test_the_holders_children_run_under_its_lock():
    with heavy_job("a benchmark"):
        child = subprocess.run([sys.executable, "-c", "from liveengine.job_lock import heavy_job\nwith heavy_job('its child'):\n    print('ran')"],
                               capture_output=True, text=True, timeout=60, cwd=REPO)
        assert child.stdout.strip() == "ran", child.stderr
    env = {k: v for k, v in os.environ.items() if k != HELD}
    with heavy_job("a benchmark"):  # a process it did not start is refused
        other = subprocess.run([sys.executable, "-c", "from liveengine.job_lock import heavy_job\nwith heavy_job('other'):\n    print('ran')"],
                               capture_output=True, text=True, timeout=60, cwd=REPO, env=env)
    assert other.returncode == 1 and other.stdout == "" and "a benchmark (pid" in other.stderr
