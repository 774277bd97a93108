"""One heavy job at a time: `liveengine train` and the benchmarks refuse to run beside each other.

A training run keeps a CPU core busy for many minutes; a benchmark beside it measures the
training as much as liveengine (and slows the training down in turn). Both hold this lock
while they run: an advisory lock (flock) on a file in the user cache folder, which the system
releases when its holder exits however it exits, so a killed job leaves no stale lock. The
file says who holds it, for the refusal's sentence.
"""

from __future__ import annotations

import json
import os
import time
from contextlib import contextmanager
from pathlib import Path

from liveengine.errors import LiveEngineError

LOCK_NAME = "heavy-job.lock"
HELD = "LIVEENGINE_HEAVY_JOB"  # set while a job holds the lock: the processes it starts run under its lock


def lock_path() -> Path:
    from liveengine.resources import cache_dir

    return cache_dir() / LOCK_NAME


@contextmanager
def heavy_job(what: str, path: Path | None = None):
    """Hold the heavy-job lock while the block runs; LiveEngineError naming the job that holds it if one does.

    `what` names this job for the others' refusals ("a training run (liveengine train kit)"). A process the holder
    started (its environment says so) runs under the holder's lock: a benchmark's own children, a training a
    benchmark runs.
    """
    import fcntl

    if os.environ.get(HELD):
        yield
        return
    path = Path(path) if path is not None else lock_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(path, "a+", encoding="utf-8")
    except OSError as exc:
        raise LiveEngineError(f"cannot open the heavy-job lock {path} ({exc.strerror or exc}); training and benchmarks use it "
                              "so that they never run beside each other.", "Set LIVEENGINE_CACHE to a folder you can write to.") from None
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            try:
                holder = json.loads(handle.read() or "{}")
            except ValueError:
                holder = {}
            since = time.strftime("%H:%M", time.localtime(holder["since"])) if "since" in holder else "a while ago"
            raise LiveEngineError(f"{holder.get('what', 'another heavy job')} (pid {holder.get('pid', '?')}, since {since}) is running on "
                                  f"this machine; training and benchmarks skew each other's figures, so {what} does not start beside it.",
                                  "Run this again when it has finished.") from None
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({"what": what, "pid": os.getpid(), "since": time.time()}))
        handle.flush()
        os.environ[HELD] = str(os.getpid())
        try:
            yield
        finally:
            os.environ.pop(HELD, None)
            handle.seek(0)
            handle.truncate()  # the lock goes with the handle; an empty file names nobody
            fcntl.flock(handle, fcntl.LOCK_UN)
    finally:
        handle.close()


def run_exclusively(what: str, main) -> int:
    """main() under the heavy-job lock, for a benchmark script's entry point; a refusal is one line on stderr and 1."""
    import sys

    try:
        with heavy_job(what):
            return main() or 0
    except LiveEngineError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1
