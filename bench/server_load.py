"""Xruns and CPU under the performance load, on a real-time JACK server with busy neighbours.

    python bench/server_load.py [--seconds 30] [--runs 3]

The load (issue 13's): the default patch (models_onnx/drums) through the audio server
process on JACK (dummy driver, 48 kHz, 128-frame periods), 16ths at 120 BPM across the
grid while `zoom` and `rotation` sweep at 20 Hz. Settings, each run `--runs` times:
- `jackd -R` (SCHED_FIFO) with two busy processes at nice 10 beside it (a DAW, a browser);
- `jackd --no-realtime` with the same two busy processes;
- `jackd -R` on a quiet machine, for CPU: cores used by each of liveengine's processes.
In every run the control is measured right after the engine on the same JACK server and
under the same neighbours: bench/bare_client.py mixing 32 voices in a process of its own.
Xruns are counted by a JACK client of this process (JACK's own xrun callback), from 3 s
after the start. Each is then attributed, so that a count says whose it is:
- `xruns_server`: the audio server's own count, inside its callback: a callback that ended more
  than a period after its cycle began, or a cycle skipped (the rest are JACK's own lateness, or
  the machine's);
- `rig_stalls` / `xruns_near_rig_stall`: cyclictest (Debian rt-tests), run beside each measured
  window, wakes a SCHED_FIFO thread above JACK's priority on every CPU each period; a wake-up
  more than half a period late is a stall of the machine itself, which no client can avoid.
  `rig_window_share` is the share of the run near a stall (the chance for a random moment);
- `steal_ticks`: CPU time the hypervisor took from this virtual machine (/proc/stat).
- `jackd_wait_us_per_wakeup`: how long JACK's cycle thread waited for a CPU once woken, on average
  (the kernel's schedstat for that thread).
Writes bench/results_server.json; its table is in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RATE, PERIOD = 48000, 128


def cpu_seconds(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def steal_ticks() -> int:
    """Time the hypervisor gave this virtual machine's CPUs to others (/proc/stat `steal`, clock ticks; 0 on bare metal)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    return int(fields[8]) if len(fields) > 8 else 0


class RigFloor:
    """The machine's own floor, measured beside each run: cyclictest (Debian rt-tests) wakes a SCHED_FIFO thread
    at priority 80 (above JACK's 70 and its clients') on each CPU every period and records each wake-up that
    came more than half a period late. Such a stall means the machine itself stopped real-time threads (a
    hypervisor pausing or throttling the virtual CPUs, a firmware interrupt): a JACK cycle it falls in
    misses its deadline whatever its clients do. It costs about 10 µs per wake-up. Without cyclictest the
    run says so."""

    def __init__(self, seconds: float) -> None:
        import shutil

        self.process = None
        self.period_us = round(PERIOD / RATE * 1e6)
        self.seconds = max(1, round(seconds))
        tool = shutil.which("cyclictest")
        if tool is not None:
            self.began = time.monotonic()
            # A histogram half a period wide: every later wake-up is an "overflow", listed by its cycle number.
            self.process = subprocess.Popen([tool, "-m", "-q", "-p", "80", "-a", "-t", str(os.cpu_count() or 1), "-i", str(self.period_us),
                                             "-D", str(self.seconds), f"--histogram={self.period_us // 2}"],
                                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)

    def close(self, xrun_times: list[float], server_times: list[float] | None = None, before: float = 0.03, after: float = 0.15) -> dict:
        """The stalls, and how many of the xruns at `xrun_times` (time.monotonic(), when JACK's report reached this
        process) came from `before` s before a stall began to `after` s after it; `server_times` likewise for
        the audio server's own xruns (when its next block began; perf_counter is the same clock here)."""
        if self.process is None:
            return {"rig": "cyclictest not installed (apt-get install rt-tests)"}
        out, _ = self.process.communicate(timeout=60)
        stalls, peak = set(), []
        for line in out.splitlines():
            if line.startswith("# Max Latencies:"):
                peak = [int(v) for v in line.split(":")[1].split()]
            elif line.startswith("# Thread ") and ":" in line:
                stalls.update(int(v) for v in line.split(":")[1].split())
        starts: list[float] = []  # a stall makes several late wake-ups in a row: one stall each
        last = None
        for t in sorted(self.began + cycle * self.period_us / 1e6 for cycle in stalls):
            if last is None or t - last > 0.02:
                starts.append(t)
            last = t
        def near(times: list[float]) -> int:
            return sum(1 for t in times if any(s - before <= t <= s + after for s in starts))

        covered, end = 0.0, None  # the share of the run those windows cover: the chance of a random moment
        for s in starts:
            lo, hi = max(s - before, end) if end is not None else s - before, s + after
            covered += max(0.0, hi - lo)
            end = hi
        return {"rig_stalls": len(starts), "rig_max_wakeup_us": peak, "xruns_near_rig_stall": near(xrun_times),
                "rig_window_share": round(covered / self.seconds, 3),
                **({} if server_times is None else {"xruns_server_near_rig_stall": near(server_times)})}


class JackdWait:
    """How long JACK's own cycle thread waited for a CPU once woken, over a measured window: from the kernel's
    per-thread scheduler figures (/proc/PID/task/TID/schedstat: time waiting on a run queue, and how many times
    it was given the CPU). The thread given the CPU most often is the one that runs JACK's cycles. On a
    non-real-time server its late cycles (xruns) came in bursts of this wait (docs/benchmarks.md)."""

    def __init__(self, pid: int | None) -> None:
        self.pid = pid
        self.before = self._read()

    def _read(self) -> dict[int, tuple[int, int]]:
        threads: dict[int, tuple[int, int]] = {}
        if self.pid is None:
            return threads
        for task in Path(f"/proc/{self.pid}/task").glob("*"):
            try:
                _, waited, slices = (int(v) for v in (task / "schedstat").read_text().split())
            except (OSError, ValueError):
                continue
            threads[int(task.name)] = (waited, slices)
        return threads

    def close(self) -> dict:
        after = self._read()
        moved = {tid: (w - self.before[tid][0], n - self.before[tid][1]) for tid, (w, n) in after.items() if tid in self.before}
        if not moved:
            return {}
        waited, slices = max(moved.values(), key=lambda v: v[1])
        return {"jackd_wait_us_per_wakeup": round(waited / 1e3 / max(1, slices), 1), "jackd_wakeups": slices}


def page_faults(pid: int) -> tuple[int, int] | None:
    """(minor, major) page faults of a process so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[7]), int(fields[9])


class XrunCounter:
    """JACK's own xrun count, from a client of this process that is not in the graph (no process callback)."""

    def __init__(self, server: str) -> None:
        import jack

        self.count = 0
        self.delays: list[float] = []  # JACK's delay (µs) of each
        self.times: list[float] = []  # time.monotonic() of each report
        self.client = jack.Client("bench-xruns", no_start_server=True, servername=server)
        self.client.set_xrun_callback(self._xrun)
        self.client.activate()

    def _xrun(self, delay) -> None:
        self.count += 1
        self.times.append(time.monotonic())
        self.delays.append(float(delay))

    def close(self) -> None:
        self.client.deactivate()
        self.client.close()


def busy_neighbours(count: int) -> list[subprocess.Popen]:
    return [subprocess.Popen(["nice", "-n", "10", sys.executable, "-c", "while True: pass"]) for _ in range(count)]


def engine_run(server: str, seconds: float, backend: str = "jack", jackd: int | None = None) -> dict:
    from liveengine.audio.spec import DeviceSpec
    from liveengine.commands import make_command
    from liveengine.engine import Engine
    from liveengine.patch import load_patch

    engine = Engine(load_patch(ROOT / "patches" / "default.toml"))
    engine.wait_rendered(timeout=120)
    # The native JACK client by default: what `play` picks when a JACK server runs; --backend portaudio
    # measures PortAudio's JACK host API instead.
    engine.start(DeviceSpec.jack(RATE, PERIOD, 2, servername=server) if backend == "jack" else DeviceSpec.portaudio("JACK", RATE, PERIOD, 2))
    counter = XrunCounter(server)
    stop = threading.Event()

    def play() -> None:  # 16ths at 120 BPM across the grid
        i = 0
        while not stop.wait(0.125):
            engine.submit(make_command("/pad", [i % 8, (i * 3) % 8, 0.8]))
            i += 1

    def sweep() -> None:  # zoom and rotation at 20 Hz
        i = 0
        while not stop.wait(0.05):
            engine.submit(make_command("/param", ["zoom", 1.0 + 0.5 * ((i % 40) / 40)]))
            engine.submit(make_command("/param", ["rotation", float((i * 3) % 360)]))
            i += 1

    threads = [threading.Thread(target=play), threading.Thread(target=sweep)]
    for t in threads:
        t.start()
    time.sleep(3.0)  # counted from 3 s after the start
    pids = {"control": os.getpid(), "server": engine.server.pid, "render": engine.instrument.workers._process.pid}
    cpu_before = {k: cpu_seconds(p) for k, p in pids.items()}
    faults_before, steal_before, rig, waits = page_faults(pids["server"]), steal_ticks(), RigFloor(seconds), JackdWait(jackd)
    xruns_before, server_xruns_before = counter.count, engine.shared.counter("xruns")
    began = time.monotonic()
    time.sleep(seconds)
    wall = time.monotonic() - began
    faults_after, steal, waited = page_faults(pids["server"]), steal_ticks() - steal_before, waits.close()
    new = engine.shared.counter("xruns") - server_xruns_before  # the server's own, each timed in its ring
    ring = engine.shared.xrun_times
    server_times = [float(ring[i % len(ring)]) for i in range(server_xruns_before + max(0, new - len(ring)), server_xruns_before + new)]
    floor = rig.close(counter.times[xruns_before:], server_times)
    cpu = {k: (None if cpu_before[k] is None or cpu_seconds(p) is None else round((cpu_seconds(p) - cpu_before[k]) / wall, 3))
           for k, p in pids.items()}
    xruns, server_xruns = counter.count - xruns_before, engine.shared.counter("xruns") - server_xruns_before
    callback, _ = engine.timings()
    blocks = int(wall * RATE / PERIOD)
    callback = callback[-blocks:] / (PERIOD / RATE)
    stop.set()
    for t in threads:
        t.join()
    status = engine.status()
    counter.close()
    engine.stop()
    import numpy as np

    return {"xruns_jack": xruns, "xruns_server": server_xruns, "server_restarts": status["server_restarts"],
            "cpu_cores": cpu, "cpu_total": round(sum(v for v in cpu.values() if v is not None), 3),
            "callback_p99": float(np.percentile(callback, 99)), "callback_max": float(callback.max()),
            "rendered": status["rendered"], "seconds": round(wall, 1), "backend": backend, "server_nice": status["server_nice"],
            "server_scheduling": status["server_scheduling"],
            "xrun_delays_us": sorted(round(d) for d in counter.delays[xruns_before:]), "steal_ticks": steal, **floor, **waited,
            "server_faults": None if faults_before is None or faults_after is None else
            {"minor": faults_after[0] - faults_before[0], "major": faults_after[1] - faults_before[1]}}


def control_run(server: str, seconds: float, jackd: int | None = None) -> dict:
    counter = XrunCounter(server)
    child = subprocess.Popen([sys.executable, str(HERE / "bare_client.py"), str(seconds), "--mix", "32", "--warmup", "3"],
                             stdout=subprocess.PIPE, text=True)
    time.sleep(3.0)
    before, steal_before, rig, waits = counter.count, steal_ticks(), RigFloor(seconds), JackdWait(jackd)
    out, _ = child.communicate(timeout=seconds + 60)
    waited = waits.close()
    floor = rig.close(counter.times[before:])
    xruns, steal = counter.count - before, steal_ticks() - steal_before
    delays = sorted(round(d) for d in counter.delays[before:])
    counter.close()
    result = json.loads(out.strip().splitlines()[-1])
    return {"xruns_jack": xruns, "xruns_client": result.get("xruns"), "callback_p99": result["callback"]["p99"],
            "xrun_delays_us": delays, "steal_ticks": steal, **floor, **waited}


SETTINGS = {"realtime, 2 busy neighbours": (True, 2), "non-realtime, 2 busy neighbours": (False, 2), "realtime, quiet": (True, 0)}


def one_run(label: str, seconds: float, backend: str = "jack") -> dict:
    """One run on a JACK server of its own (a process must not talk to two JACK servers in turn)."""
    from liveengine.testing.jack_rig import start_jackd

    realtime, neighbours = SETTINGS[label]
    name = f"bench-load-{os.getpid()}"
    server = start_jackd(name, realtime=realtime)  # synchronous (-S), as the issue measured it
    os.environ["JACK_DEFAULT_SERVER"] = name
    busy = busy_neighbours(neighbours)
    try:
        jackd = server.process.pid
        return {"engine": engine_run(name, seconds, backend, jackd), "control": control_run(name, seconds, jackd)}
    finally:
        for p in busy:
            p.kill()
        server.stop()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--one", choices=tuple(SETTINGS), help=argparse.SUPPRESS)
    parser.add_argument("--backend", choices=("jack", "portaudio"), default="jack", help="the engine's audio backend (default: jack, what play uses)")
    parser.add_argument("--settings", nargs="*", choices=tuple(SETTINGS), help="only these settings (default: all)")
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one_run(args.one, args.seconds, args.backend)), flush=True)
        return 0
    path = HERE / "results_server.json"
    results: dict = {"date": time.strftime("%Y-%m-%d"), "seconds": args.seconds, "backend": args.backend, "settings": {}}
    if args.settings and path.exists():  # some settings again: the others' runs stay in the file, each with its own date
        previous = json.loads(path.read_text())
        results["settings"] = {label: runs for label, runs in previous.get("settings", {}).items() if label not in args.settings}
    for label, (_, neighbours) in SETTINGS.items():
        if args.settings and label not in args.settings:
            continue
        runs = []
        for run in range(args.runs if neighbours else 1):
            child = subprocess.run([sys.executable, __file__, "--one", label, "--seconds", str(args.seconds), "--backend", args.backend],
                                   capture_output=True, text=True, timeout=args.seconds * 3 + 180)
            lines = child.stdout.strip().splitlines()
            if child.returncode != 0 or not lines:
                raise RuntimeError(f"{label} run {run} failed: {child.stderr[-800:]}")
            entry = {"date": time.strftime("%Y-%m-%d %H:%M"), **json.loads(lines[-1])}
            print(label, run, json.dumps(entry), flush=True)
            runs.append(entry)
            time.sleep(2.0)
        results["settings"][label] = runs
    path.write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    from liveengine.job_lock import run_exclusively  # never beside a training run: each skews the other

    sys.exit(run_exclusively("the server load benchmark (bench/server_load.py)", main))
