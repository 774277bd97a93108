"""The control process's side of the audio server: start it, send it commands, watch it, restart it.

`ServerProcess` runs the real-time core in `python -m liveengine.server` (see
process.py). `InProcessServer` runs the same core in this process for the
offline backend (render, render-grid, tests, bench): one real-time core, two
clocks, as scsynth's non-real-time mode.

Supervision (`check`, called by the engine's supervisor every 0.1 s): a server
that exited, or whose heartbeat (`blocks`) stalled for `STALL_SECONDS`, is
killed and a new one started on the same shared memory: the sample pool, the
FIFO and everything in the control process are untouched, nothing re-renders,
and the new server's frame counter continues the old one's by the time that
passed, so timetags and a running recording stay in place (the recorder writes the frames
no server played as silence, and counts them).
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from dataclasses import asdict
from typing import Callable

from liveengine.audio.spec import DeviceSpec
from liveengine.errors import LiveEngineError
from liveengine.options import EngineOptions
from liveengine.server.layout import CLOCK_RING, SharedState

STALL_SECONDS = 0.5  # a callback counter that stands still this long means a hung or lost stream
FIRST_BLOCK_SECONDS = 3.0  # a new stream's first callback may take longer (the JACK graph being rebuilt)
START_TIMEOUT = 20.0  # interpreter start, imports and opening the device
RETRY_SECONDS = 0.5  # between attempts to start a server while the device is away


class ServerProcess:
    def __init__(self, options: EngineOptions, state: SharedState, on_report: Callable[[str], None]) -> None:
        self.options = options
        self.state = state
        self.report = on_report
        self.spec: DeviceSpec | None = None
        self._said_unavailable = False
        self.process: subprocess.Popen | None = None
        self._standby: subprocess.Popen | None = None  # started ahead by prespawn, waiting for its device
        self._sent: dict | None = None  # the device line the standby was sent ahead (prespawn with a spec)
        self.description = ""
        self.samplerate = options.samplerate
        self.blocksize = options.blocksize
        self.output_latency = 0.0
        self.nice = 0  # the audio server's nice value (process.py raise_priority: -10 where allowed)
        self.scheduling = "nice 0"  # its callback thread's (process.py raise_callback: SCHED_FIFO where it can be)
        self.restarts = 0
        self.device_lost = False
        self._last_blocks = self._spawned_blocks = -1
        self._last_progress = 0.0
        self._last_attempt = 0.0
        self.stopping = False

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    def now(self) -> float:
        return time.perf_counter()

    def start(self, spec: DeviceSpec) -> None:
        """Start the server and open the device; LiveEngineError (with the server's reason) if it cannot."""
        self.spec = spec
        self._spawn(self.state.counter("frame"), None)

    def prespawn(self, spec: DeviceSpec | None = None) -> None:
        """Start a server process now that waits, imports done, for its device: `start` then only opens
        the stream (play calls this before the grid renders, so the interpreter's start-up overlaps it).
        With `spec` the device opens now too (its stream plays silence), and `start` with the same
        spec only reads the server's answer: a device that cannot open is reported there, as ever."""
        if self._standby is None:
            self._standby = self._popen()
        if spec is not None and self._sent is None:
            self._sent = self._config(spec, self.state.counter("frame"), None)
            self._send(self._standby, self._sent)

    def _popen(self) -> subprocess.Popen:
        """A server process, given its memory and options at once (it maps and warms up while it waits for a device)."""
        env = dict(os.environ)
        env["PYTHONUNBUFFERED"] = "1"
        process = subprocess.Popen([sys.executable, "-m", "liveengine.server"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                   pass_fds=[self.state.segment.fd], env=env, close_fds=True)
        self._send(process, {"fd": self.state.segment.fd, "layout": self.state.layout.as_dict(), "options": asdict(self.options)})
        return process

    @staticmethod
    def _config(spec: DeviceSpec, start_frame: int, resume: tuple[int, float] | None) -> dict:
        return {"device": spec.as_dict(), "start_frame": int(start_frame), "resume": resume}

    @staticmethod
    def _send(process: subprocess.Popen, line: dict) -> None:
        try:
            process.stdin.write((json.dumps(line) + "\n").encode())
            process.stdin.flush()
        except OSError:
            pass  # it died at once: reading its answer fails, and says so

    def _spawn(self, start_frame: int, resume: tuple[int, float] | None) -> None:
        process, self._standby = self._standby, None
        config, sent, self._sent = self._config(self.spec, start_frame, resume), self._sent, None
        if sent is not None:  # the standby was sent a device ahead
            if (sent["device"], sent["resume"]) == (config["device"], config["resume"]):
                answer = self._read_answer(process)
                if answer.get("ok"):
                    return self._adopt(process, answer)
                _kill(process)  # the device could not open then (busy a moment?): once more, now
            else:  # opened ahead for another device
                _end(process)
            process = None
        if process is None or process.poll() is not None:
            process = self._popen()
        self._send(process, config)
        answer = self._read_answer(process)
        if not answer.get("ok"):
            _kill(process)
            raise LiveEngineError(answer.get("error") or "the audio server did not start.", answer.get("fix") or "")
        self._adopt(process, answer)

    def _adopt(self, process: subprocess.Popen, answer: dict) -> None:
        """Make `process`, which answered that its device is open, this engine's server."""
        self.process = process
        self.description = answer["description"]
        self.samplerate, self.blocksize = answer["samplerate"], answer["blocksize"]
        self.output_latency = answer["output_latency"]
        self.nice = answer.get("nice", 0)
        self.scheduling = answer.get("scheduling", f"nice {self.nice}")
        self._last_blocks = self._spawned_blocks = self.state.blocks.load()
        self._last_progress = time.monotonic()

    @staticmethod
    def _read_answer(process: subprocess.Popen) -> dict:
        """The server's one JSON line: {"ok": True, ...} or {"error": ..., "fix": ...} (this side's reason too)."""
        deadline = time.monotonic() + START_TIMEOUT
        line = b""
        try:
            while not line.endswith(b"\n"):
                left = deadline - time.monotonic()
                if left <= 0:
                    return {"error": f"the audio server did not answer within {START_TIMEOUT:g} s", "fix": ""}
                ready, _, _ = select.select([process.stdout], [], [], min(left, 0.5))
                if ready:
                    chunk = os.read(process.stdout.fileno(), 4096)
                    if not chunk:
                        return {"error": f"the audio server exited while starting (code {process.wait()})", "fix": ""}
                    line += chunk
            return json.loads(line.decode())
        except (OSError, ValueError) as exc:
            return {"error": f"the audio server did not start ({exc})", "fix": ""}

    def check(self) -> None:
        """Supervisor thread: restart a server that died or hung; bring one back after the device returns."""
        if self.stopping or self.spec is None:
            return
        now = time.monotonic()
        process = self.process
        if process is not None:
            blocks = self.state.blocks.load()
            if blocks != self._last_blocks:
                self._last_blocks, self._last_progress = blocks, now
                return
            died = process.poll() is not None
            # Killing a JACK client stalls a synchronous JACK server for seconds: give a new
            # server's first callback time before calling it hung.
            patience = STALL_SECONDS if blocks > self._spawned_blocks else FIRST_BLOCK_SECONDS
            if not died and now - self._last_progress < patience:
                return
            why = f"exited (code {process.returncode})" if died else f"stopped calling back for {now - self._last_progress:.1f} s"
            _kill(process)
            self.process = None
            self.device_lost = True
            self.report(f"audio device lost: the audio server (pid {process.pid}) {why}; starting another, the engine keeps its state")
        if now - self._last_attempt < RETRY_SECONDS:
            return
        self._last_attempt = now
        state = self.state
        state.slot_refs[:] = 0  # its voices died with it; the new server starts silent
        state.pad_voices[:] = 0
        resume = self._last_block()
        try:
            self._spawn(state.counter("frame"), resume)
        except LiveEngineError as exc:
            if not self._said_unavailable:
                self.report(f"audio device unavailable, retrying: {exc}")
                self._said_unavailable = True
            return
        self._said_unavailable = False
        self.device_lost = False
        self.restarts += 1
        self.report(f"audio device back: audio server pid {self.process.pid}, {self.description}")

    def _last_block(self) -> tuple[int, float] | None:
        """(frame, host time) of the last block any server played: the new server's clock continues it."""
        state = self.state
        blocks = state.blocks.load()
        if blocks == 0:
            return None
        last = (blocks - 1) % CLOCK_RING
        return int(state.clock_frames[last]), float(state.clock_times[last])

    def stop(self) -> None:
        self.stopping = True
        standby, self._standby, self._sent = self._standby, None, None
        if standby is not None:  # never used (or opened ahead, never adopted)
            _end(standby)
        process, self.process = self.process, None
        if process is not None:
            _end(process)

    @property
    def alive(self) -> bool:
        return self.process is not None and not self.device_lost


class InProcessServer:
    """The same real-time core in this process, driven by an offline backend's fake clock."""

    def __init__(self, options: EngineOptions, state: SharedState) -> None:
        from liveengine.rt.core import RealtimeCore

        self.core = RealtimeCore(options, state, start_frame=state.counter("frame"))
        self.backend = None
        self.before_block = None  # called before each block (an in-process stream producer's pump), or None
        self.description = ""
        self.samplerate, self.blocksize = options.samplerate, options.blocksize
        self.output_latency = 0.0
        self.restarts = 0
        self.device_lost = False
        self.pid = os.getpid()

    def start(self, backend) -> None:
        self.backend = backend
        self.description = backend.description
        backend.start(self._process)

    def _process(self, out, frames: int, stream_time: float, lateness: float = 0.0, xrun: bool = False) -> None:
        before = self.before_block
        if before is not None:
            before()
        self.core.process(out, frames, stream_time, lateness, xrun)

    def now(self) -> float:
        return self.backend.now() if self.backend is not None else 0.0

    def check(self) -> None:
        pass

    def stop(self) -> None:
        if self.backend is not None:
            self.backend.stop()

    @property
    def alive(self) -> bool:
        return True


def _end(process: subprocess.Popen) -> None:
    """End a server the way it expects: its stdin closes, its main thread wakes, closes the device
    (a JACK client that just vanishes stalls the JACK server) and exits; killed if it does not."""
    try:
        process.stdin.close()
    except OSError:
        pass
    try:
        process.wait(3.0)
    except subprocess.TimeoutExpired:
        _kill(process)
    if process.stdout is not None:
        process.stdout.close()


def _kill(process: subprocess.Popen) -> None:
    try:
        process.kill()
        process.wait(5.0)
    except (OSError, subprocess.TimeoutExpired):
        pass
    for pipe in (process.stdin, process.stdout):
        try:
            if pipe is not None:
                pipe.close()
        except OSError:
            pass
