"""`liveengine play` as a user runs it, for tests: a subprocess, read up to a line that says it is ready."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Callable


def start_play(args: list[str], cwd, ready: Callable[[str], bool], **popen) -> tuple[subprocess.Popen, list[str]]:
    """Start `liveengine play ARGS` and read its output until a line for which `ready` is true (or it ends).
    Returns the process (still running, stdout open) and the lines read."""
    process = subprocess.Popen([sys.executable, "-m", "liveengine", "play", *args], cwd=cwd,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"}, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True, **popen)
    lines = []
    for line in process.stdout:
        lines.append(line)
        if ready(line):
            break
    return process, lines
