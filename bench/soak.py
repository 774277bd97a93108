"""Soak: ten minutes of mixed OSC traffic plus 1% junk against `liveengine play`; memory, losses, and /ping at the end.

    python bench/soak.py [--minutes 10]

`liveengine play default` runs as a user runs it (its own process, its audio server and render
process) on a JACK dummy server (asynchronous, as on a performer's machine). One client sends,
every 10 ms: a pad hit, an /xy hit at a new point (rendered on demand), a knob sweep (zoom and
rotation at 20 Hz); every 5 s a /capture; three subscribers take the feedback; one datagram in a
hundred is junk (random bytes, wrong type tags, unknown addresses). Memory is the PSS summed over
play's processes (shared memory counted once), sampled every 10 s; growth is measured from the end
of the first minute. At the end: 50 /ping round trips on a quiet socket, and play's own counters.
Writes bench/results_soak.json; its summary is in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))


def process_tree(pid: int) -> list[int]:
    pids, todo = [], [pid]
    while todo:
        p = todo.pop()
        pids.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                todo += [int(c) for c in Path(f"/proc/{p}/task/{task}/children").read_text().split()]
        except OSError:
            pass
    return pids


def pss_mb(pid: int) -> float:
    total = 0
    for p in process_tree(pid):
        try:
            for line in Path(f"/proc/{p}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def junk(rng: random.Random, build_message) -> bytes:
    kind = rng.randrange(4)
    if kind == 0:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200)))
    if kind == 1:
        return b"/pad\x00\x00\x00\x00,Zii\x00\x00\x00\x00" + bytes(8)  # an unknown type tag
    if kind == 2:
        return build_message("/nothing/here", 1, 2)
    return build_message("/pad", "seven", 7, 0.5)  # a wrong argument type


def main() -> None:
    from liveengine.control.osc.server import build_message
    from liveengine.testing.jack_rig import start_jackd

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    args = parser.parse_args()
    seconds = args.minutes * 60
    rng = random.Random(15)
    name = f"liveengine-soak-{os.getpid()}"
    server = start_jackd(name, synchronous=False)
    work = Path(tempfile.mkdtemp(prefix="soak-"))
    env = {**os.environ, "JACK_DEFAULT_SERVER": name, "JACK_NO_START_SERVER": "1", "PYTHONUNBUFFERED": "1",
           **{k: str(work / k.lower()) for k in ("LIVEENGINE_LIBRARY", "LIVEENGINE_STATE", "LIVEENGINE_CACHE")}}
    port = 9300 + os.getpid() % 500
    log = open(work / "play.log", "w")
    play = subprocess.Popen([sys.executable, "-m", "liveengine", "play", "default", "--osc-port", str(port), "--no-midi",
                             "--seconds", str(seconds + 60)], cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT)
    target = ("127.0.0.1", port)
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    subscribers = []
    for _ in range(3):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        s.setblocking(False)
        subscribers.append(s)
    sent = junk_sent = 0
    samples: list[tuple[float, float]] = []
    try:
        time.sleep(15)  # start-up: the grid renders
        for s in subscribers:
            s.sendto(build_message("/subscribe"), target)
        start = time.monotonic()
        next_sample = next_capture = start
        tick = 0
        while (now := time.monotonic()) - start < seconds:
            tick += 1
            phase = (now - start) * 20.0
            messages = [build_message("/pad", rng.randrange(8), rng.randrange(8), 0.5 + rng.random() / 2),
                        build_message("/xy", rng.random(), rng.random(), 0.8),
                        build_message("/param", "zoom", 1.0 + 0.5 * (1 + ((phase % 40) - 20) / 20)),
                        build_message("/param", "rotation", float(phase % 360))]
            if now >= next_capture:
                next_capture = now + 5.0
                messages.append(build_message("/capture"))
            for m in messages:
                if rng.random() < 0.01:
                    sender.sendto(junk(rng, build_message), target)
                    junk_sent += 1
                sender.sendto(m, target)
                sent += 1
            for s in subscribers:  # take the feedback, as a panel would
                try:
                    while True:
                        s.recv(65536)
                except BlockingIOError:
                    pass
            if now >= next_sample:
                next_sample = now + 10.0
                samples.append((round(now - start, 1), round(pss_mb(play.pid), 1)))
                print(f"{samples[-1][0]:7.1f} s  PSS {samples[-1][1]:.1f} MB", flush=True)
            time.sleep(max(0.0, start + tick * 0.01 - time.monotonic()))
        time.sleep(2.0)
        quiet = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        quiet.settimeout(1.0)
        pings = []
        for _ in range(50):
            t = time.perf_counter()
            quiet.sendto(build_message("/ping"), target)
            try:
                while quiet.recv(65536)[:5] != b"/pong":
                    pass
                pings.append((time.perf_counter() - t) * 1000)
            except socket.timeout:
                pings.append(float("inf"))
            time.sleep(0.02)
        quiet.sendto(build_message("/status"), target)
        status = quiet.recv(65536)
    finally:
        play.terminate()
        try:
            play.wait(20)
        except subprocess.TimeoutExpired:
            play.kill()
        log.close()
        server.stop()
    from pythonosc.osc_message import OscMessage

    values = OscMessage(status).params
    after_minute = [mb for t, mb in samples if t >= 60]
    pings.sort()
    output = (work / "play.log").read_text()
    results = {
        "date": time.strftime("%Y-%m-%d"), "minutes": args.minutes, "messages_sent": sent, "junk_sent": junk_sent,
        "pss_mb": samples, "growth_after_first_minute_mb": round(max(after_minute) - after_minute[0], 1) if after_minute else None,
        "ping_ms": {"median": round(pings[len(pings) // 2], 2), "max": round(pings[-1], 2)},
        "status": dict(zip(("voices", "xruns", "queue_drops", "late_commands", "cpu_load", "rendered", "total", "memory_mb"), values)),
        "loss_reports": [line for line in output.splitlines() if "lost" in line or "dropped" in line][-10:],
        "play_exit": play.returncode,
    }
    (HERE / "results_soak.json").write_text(json.dumps(results, indent=1) + "\n")
    print(json.dumps({k: v for k, v in results.items() if k != "pss_mb"}, indent=1))


if __name__ == "__main__":
    from liveengine.job_lock import run_exclusively  # never beside a training run: each skews the other

    sys.exit(run_exclusively("the soak benchmark (bench/soak.py)", main))
