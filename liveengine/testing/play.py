"""`liveengine play` as a user runs it, for tests: a subprocess, read up to a line that says it is ready."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from typing import Callable


def free_port() -> int:
    """A port nothing on this machine listens on now (TCP and UDP both free), for a play that must not take the default
    9000 from another test's play running beside it."""
    while True:
        with socket.socket() as tcp, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            tcp.bind(("127.0.0.1", 0))
            port = tcp.getsockname()[1]
            try:
                udp.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port


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
