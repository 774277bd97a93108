"""Run by test_play_cli.py's SIGKILL test in its own process, on a JACK server of its own.

A killed JACK client stalls its server until the server gives up on it, which would fail
the tests that follow on the session's shared server; and one process must not use two
JACK servers. So this child owns a server, runs `liveengine play --record`, kills it with
SIGKILL mid-performance, and prints what it saw as JSON.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from liveengine.testing.jack_rig import start_jackd
from liveengine.testing.play import free_port


def children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def shm_names() -> set[str]:
    """The system's shared-memory folder, without JACK's own files."""
    try:
        return {p.name for p in Path("/dev/shm").iterdir() if not p.name.startswith("jack")}
    except OSError:
        return set()


def mapped_by_a_live_process(names: set[str]) -> set[str]:
    """Those of `names` (in the shared-memory folder) that some living process has mapped: in use, not left behind.

    The folder is the whole machine's: other jobs (tests run beside this one) make and remove
    entries meanwhile; a segment or semaphore that a dead process of ours left is mapped by nobody.
    Matched by inode: a named semaphore is mapped under the temporary name it was made with."""
    inodes = {}
    for name in names:
        try:
            inodes[os.stat(f"/dev/shm/{name}").st_ino] = name
        except OSError:
            continue  # gone meanwhile
    mapped: set[str] = set()
    for maps in Path("/proc").glob("[0-9]*/maps"):
        try:
            lines = maps.read_text().splitlines()
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) >= 6 and fields[5].startswith("/dev/shm/") and int(fields[4]) in inodes:
                mapped.add(inodes[int(fields[4])])
    return mapped | {name for name in names if not Path(f"/dev/shm/{name}").exists()}


def main(folder: str, name: str, moment: str = "playing") -> dict:
    """`moment`: "playing" kills play 1.5 s into the performance; "rendering" at its first "rendering
    pads" line, while the audio server opens the device (or has opened it) and the grid renders."""
    server = start_jackd(name)
    shm_before = shm_names()
    try:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "JACK_DEFAULT_SERVER": name, "JACK_NO_START_SERVER": "1"}
        play = subprocess.Popen([sys.executable, "-m", "liveengine", "play", "--demo", "--record", "take.wav", "--osc-port", str(free_port())],
                                cwd=folder, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        lines = []
        awaited = "playing on" if moment == "playing" else "rendering pads"
        for line in play.stdout:
            lines.append(line)
            if line.startswith(awaited):
                break
        else:
            return {"error": f"play never printed {awaited!r}", "output": "".join(lines)}
        if moment == "playing":
            time.sleep(1.5)
        render = children(play.pid)  # the audio server, the render process (and multiprocessing's resource tracker)
        play.kill()
        play.wait(timeout=10)
        lines += play.stdout.readlines()  # what its children said as they went: until the last of them closed the pipe
        play.stdout.close()
        deadline = time.time() + 10
        lingering = True
        while time.time() < deadline:
            lingering = any(Path(f"/proc/{c}").exists() and Path(f"/proc/{c}/stat").read_text().split()[2] != "Z" for c in render)
            if not lingering:
                break
            time.sleep(0.1)
        left = shm_names() - shm_before
        clients = [c for c in jack_clients(name) if c.startswith("liveengine")]
        return {"render_children": len(render), "render_outlived_engine": lingering,
                "shm_left": sorted(left - mapped_by_a_live_process(left)), "jack_clients_left": clients,
                "tracebacks": "".join(lines).count("Traceback"), "output": "".join(lines)[-3000:]}
    finally:
        server.stop()


def jack_clients(server: str) -> list[str]:
    import jack

    with jack.Client("sigkill-check", no_start_server=True, servername=server) as client:
        return sorted({port.name.split(":")[0] for port in client.get_ports()})


if __name__ == "__main__":
    print(json.dumps(main(*sys.argv[1:4])))
