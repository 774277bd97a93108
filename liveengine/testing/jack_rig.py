"""The real audio path for tests: a JACK server on its dummy driver and a capture client.

The server runs as `jackd --no-realtime -d dummy -r 48000 -p 128` under its own
name, so a JACK server a developer already runs is never touched. The capture
client records what the engine's output ports carry, with JACK frame times.
"""

from __future__ import annotations

import fcntl
import gc
import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

RATE = 48000
PERIOD = 128


class JackUnavailable(RuntimeError):
    """JACK cannot run here; the message says why."""


def unavailable(reason: str) -> None:
    raise JackUnavailable(reason)


@dataclass
class _Log:
    file: object  # the temporary file jackd writes its messages to
    process: subprocess.Popen  # the server writing it


_LOGS: dict[str, _Log] = {}  # server name -> where its messages go (server_lines reads it; stop() closes it)


def server_lines(name: str, words: tuple[str, ...] = ("XRun", "zombi")) -> list[str]:
    """The lines of the JACK server `name`'s messages (one started here) that hold any of `words`: when a capture
    missed cycles, how long the server's cycle was held up ("JackTimedDriver::Process XRun = 500123 usec")."""
    entry = _LOGS.get(name)
    if entry is None:
        return []
    log = entry.file
    try:  # opened again, never seeked: jackd writes through the same open file, and a seek here would move its place
        with open(log.name if isinstance(log.name, str) else f"/proc/self/fd/{log.fileno()}", "rb") as text:
            return [line for line in text.read().decode(errors="replace").splitlines() if any(w in line for w in words)]
    except (OSError, ValueError):
        return []


def xrun_usec(line: str) -> int:
    """How long a cycle was held up, from one of jackd's XRun lines (0 where the line says no figure)."""
    found = re.search(r"XRun = (\d+) usec", line)
    return int(found.group(1)) if found else 0


@dataclass
class JackServer:
    name: str
    process: subprocess.Popen

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        log = _LOGS.get(self.name)
        if log is not None and log.process is self.process:  # its messages file, not a later server's of the same name
            del _LOGS[self.name]
            log.file.close()


def _die_with_parent() -> None:
    """In the jackd child (Linux): exit when the test process dies, even by SIGKILL or a timeout.

    A leaked server counts against JACK's limit on servers per machine ("Too many servers
    already active"), which then fails every later test run on the machine.
    """
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass  # not Linux: servers are stopped by the fixtures as before


def _jackd_running() -> bool:
    for comm in Path("/proc").glob("[0-9]*/comm"):
        try:
            if comm.read_text().strip() == "jackd":
                return True
        except OSError:
            continue
    return False


def clear_stale_jack_registry() -> list[str]:
    """Remove JACK's shared-memory files left by servers that were killed (Linux), if no jackd runs.

    A killed server keeps its slot in JACK's server registry (/dev/shm/jack-shm-registry);
    after eight of them every new server fails with "Too many servers already active". With
    no jackd process alive on the machine nothing uses these files, so removing them is safe.
    """
    shm = Path("/dev/shm")
    if not shm.is_dir() or _jackd_running():
        return []
    removed = []
    for path in shm.glob("jack*"):
        if path.is_file():
            try:
                path.unlink()
                removed.append(path.name)
            except OSError:
                pass
    return removed


def start_jackd(name: str, timeout: float = 10.0, realtime: bool = False, clear_registry: bool = True,
                synchronous: bool = True) -> JackServer:
    """Start `jackd -d dummy` under `name`; --no-realtime unless `realtime` (SCHED_FIFO, needs the permission).

    `synchronous` (-S, the default here: a capture client hears the engine's output in the same
    cycle) makes JACK wait for every client each cycle, so a client killed or started under load
    can stall the whole graph for seconds. The fault tests, which kill and start audio servers
    on purpose, use the asynchronous mode JACK runs in by default on a performer's machine.

    `clear_registry=False` when clients may be trying to connect meanwhile (a restart under a
    running engine): libjack recreates the registry a client finds missing, and a server
    started beside that half-made registry never accepted clients (1 run in 4 here)."""
    jackd = shutil.which("jackd")
    if jackd is None:
        unavailable("jackd is not installed (Debian package jackd2)")
    try:
        import jack
    except OSError as exc:
        unavailable(f"the JACK client library cannot be loaded ({exc})")
    # One start at a time on the machine (the suite's xdist workers each start a server): a process clearing the
    # registry because it saw no jackd must not remove the one another process is starting.
    with open(Path(tempfile.gettempdir()) / "liveengine-jackd-start.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if clear_registry:
            clear_stale_jack_registry()
        return _start_jackd(jackd, jack, name, timeout, realtime, synchronous)


def _start_jackd(jackd: str, jack, name: str, timeout: float, realtime: bool, synchronous: bool) -> JackServer:
    """start_jackd's server, started and waited for until it accepts a client."""
    scheduling = ["-R", "-P", "70"] if realtime else ["--no-realtime"]
    mode = ["-S"] if synchronous else []
    # Its messages go to a file, never a pipe: nobody reads a pipe while it runs, and once a busy
    # machine's xrun messages filled the pipe's 64 KB, jackd blocked in write() and answered no client
    # again (a test then hung in jack_client_open for minutes).
    log = tempfile.TemporaryFile()
    process = subprocess.Popen([jackd, "-n", name, *scheduling, *mode, "-d", "dummy", "-r", str(RATE), "-p", str(PERIOD)],
                               stdout=subprocess.DEVNULL, stderr=log, env={**os.environ, "JACK_NO_AUDIO_RESERVATION": "1"},
                               preexec_fn=_die_with_parent)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log.seek(0)
            unavailable(f"jackd exited at start: {log.read().decode(errors='replace')[-400:]}")
        try:
            probe = jack.Client("liveengine-test-probe", no_start_server=True, servername=name)
        except jack.JackOpenError:
            time.sleep(0.1)
            continue
        probe.close()
        _LOGS[name] = _Log(log, process)
        return JackServer(name, process)
    process.kill()
    unavailable(f"jackd did not accept clients within {timeout:.0f} s")


def wait_for_no_client(servername: str, client_name: str, timeout: float = 10.0) -> bool:
    """Wait until JACK has no port of `client_name` (or a renamed twin, name-NN): a client closed or
    killed just now can stay registered a while on a synchronous server. True once it is gone."""
    deadline = time.monotonic() + timeout
    while True:
        probe = open_probe(servername)
        try:
            left = probe.get_ports(f"^{client_name}(-[0-9]+)?:")
        finally:
            probe.close()
        if not left or time.monotonic() > deadline:
            return not left
        time.sleep(0.05)


def open_probe(servername: str, timeout: float = 20.0):
    """A JACK client on `servername` that runs no callback; AssertionError, with the server's last messages, when the
    server has not let it in within `timeout` s (a wedged server holds a client's open for ever: every later test of
    the pass would then wait out pytest-timeout's 300 s instead of failing and saying why)."""
    import threading

    import jack

    opened: list = []
    failed: list = []

    def open_it() -> None:
        try:
            opened.append(jack.Client("liveengine-test-probe", no_start_server=True, servername=servername))
        except Exception as exc:  # noqa: BLE001 - raised below, in the test's thread
            failed.append(exc)
    opener = threading.Thread(target=open_it, name="jack probe", daemon=True)
    opener.start()
    opener.join(timeout)
    if failed:
        raise failed[0]
    if not opened:
        tail = server_lines(servername, ("",))[-15:]
        raise AssertionError(f"JACK server {servername!r} let no client in for {timeout:g} s; its last messages:\n" + "\n".join(tail))
    return opened[0]


STALL_USEC = 100_000  # a hold-up of the JACK server this long (37 periods) disturbs its frame clock for seconds


class ServerStalled(AssertionError):
    """A JACK test failed while its server was held up STALL_USEC or longer (jackd's own XRun lines say so). JACK's
    frame clock is then off for seconds (`jack_frame_time` runs up to half a second away from the cycles' frames), so
    the test's timing cannot be judged; the failure is kept as the cause. The JACK pass of scripts/test.sh runs such a
    test once more, and the run's summary counts the rerun. On the synchronous test server the hold-up can be any
    client's, the engine's audio server included: a second failure fails the run."""


def hold_ups(servername: str, since: int = 0) -> list[str]:
    """jackd's XRun lines for `servername` from the `since`-th on (xrun_count's mark), the longest hold-up last."""
    return sorted(server_lines(servername, ("XRun =",))[since:], key=xrun_usec)


def xrun_count(servername: str) -> int:
    """How many XRun lines jackd has written for `servername` so far (a mark for `hold_ups` and `stalled`)."""
    return len(server_lines(servername, ("XRun =",)))


def stalled(servername: str, mark: int, failure: BaseException) -> ServerStalled | None:
    """`failure` as a ServerStalled (it the cause) if jackd logged a hold-up of STALL_USEC or more since `mark`
    (xrun_count's), else None."""
    held = [line for line in hold_ups(servername, mark) if xrun_usec(line) >= STALL_USEC]
    if not held:
        return None
    stall = ServerStalled(f"the JACK server was held up {len(held)} time(s) while the test ran ({'; '.join(held[-3:])}), "
                          f"and it failed: {type(failure).__name__}: {str(failure)[:500]}")
    stall.__cause__ = failure
    return stall


class CaptureGap(AssertionError):
    """A capture's recording has a hole: JACK's frame clock jumped between two of its cycles, so what it heard cannot
    be laid on JACK's frames: the server, the machine or this process stalled (the JACK pass of scripts/test.sh runs
    such a test once more, and the run's summary counts the rerun)."""


class Capture:
    """A JACK client that records `channels` input ports into a preallocated array.

    It also keeps each cycle's JACK frame time, so tests can prove no cycle was
    missed (a gap would shift every later frame).
    """

    def __init__(self, servername: str, channels: int = 2, seconds: float = 30.0, name: str = "capture") -> None:
        import jack

        self.client = jack.Client(name, no_start_server=True, servername=servername)
        self.servername = servername
        self._collecting = False  # whether the interpreter's garbage collection ran before start()
        self.ports = [self.client.inports.register(f"in_{i}") for i in range(channels)]
        self.data = np.zeros((int(seconds * RATE), channels), dtype=np.float32)
        self.cycles = np.zeros(int(seconds * RATE) // PERIOD + 1, dtype=np.int64)
        self.entered = np.zeros(len(self.cycles), dtype=np.float64)  # perf_counter at each callback
        self.frames = 0
        self.count = 0
        self.recording = False
        self.client.set_process_callback(self._process)
        self.client.activate()

    def _process(self, frames: int) -> None:
        if not self.recording or self.frames + frames > len(self.data):
            return
        for i, port in enumerate(self.ports):
            self.data[self.frames : self.frames + frames, i] = port.get_array()
        self.cycles[self.count] = self.client.last_frame_time
        self.entered[self.count] = time.perf_counter()
        self.count += 1
        self.frames += frames

    def connect_from(self, client_name: str) -> None:
        sources = self.client.get_ports(f"{client_name}:", is_output=True, is_audio=True)
        assert sources, f"no output ports of JACK client {client_name!r}"
        # JACK renames a second client of the same name (name-01): then the ports found may be a stale one's.
        twins = sorted({p.name.split(":")[0] for p in self.client.get_ports(f"^{client_name}-[0-9]+:", is_audio=True)})
        assert not twins, f"JACK client {client_name!r} is there twice ({', '.join(twins)}): a stale one from before is still registered"
        for source, port in zip(sources, self.ports):
            self.client.connect(source, port)

    def start(self) -> None:
        # The callback runs Python, so it waits for this (test) process's interpreter lock: a garbage collection of
        # the suite's heap while recording would hold it and make the capture miss cycles. None runs until stop().
        gc.collect()
        gc.freeze()
        self._collecting = self._collecting or gc.isenabled()  # a second start() keeps the first one's answer
        gc.disable()
        self.frames = 0
        self.count = 0
        self.recording = True

    def stop(self, every_cycle: bool = True) -> tuple[np.ndarray, int]:
        """Stop; return (frames, JACK frame time of the first captured frame).

        `every_cycle`: assert the capture missed no cycle (on an asynchronous server a capture
        callback that waits for this process's interpreter lock can miss one; the fault tests,
        which only count onsets, accept that)."""
        self.recording = False
        time.sleep(0.02)
        self._collect_again()
        cycles = self.cycles[: self.count]
        gaps = np.diff(cycles)
        if every_cycle and not np.all(gaps == PERIOD):
            raise CaptureGap(f"the capture client missed JACK cycles: gaps {sorted(set(gaps.tolist()))} at "
                             f"{np.flatnonzero(gaps != PERIOD)[:5]}; the server's longest hold-ups: {self._longest_xruns()}")
        return self.data[: self.frames].copy(), int(cycles[0]) if len(cycles) else 0

    def _longest_xruns(self) -> list[str]:
        return hold_ups(self.servername)[-3:]

    def _collect_again(self) -> None:
        if self._collecting:
            gc.enable()
            self._collecting = False
        gc.unfreeze()

    def frame_time(self) -> int:
        return self.client.frame_time

    def holds(self, frame: int) -> bool:
        """Whether the capture has recorded JACK's cycles through `frame`."""
        count = self.count
        return count > 0 and int(self.cycles[count - 1]) + PERIOD > frame

    def wait_for_frame(self, frame: int, timeout: float = 10.0) -> bool:
        """Wait until the capture holds JACK frame `frame` (False after `timeout` s): a test waits for a sound in
        JACK's frames, not the wall clock's, since a capture client starved by a busy machine holds less audio than
        the time a test slept, and a test process may oversleep while JACK plays on."""
        return wait_for(lambda: self.holds(frame), timeout)

    def wait_for_more(self, frames: int, timeout: float = 10.0) -> bool:
        """Wait until the capture holds `frames` more than it holds now (from its first cycle, if none yet)."""
        if not wait_for(lambda: self.count > 0, timeout):
            return False
        return self.wait_for_frame(int(self.cycles[self.count - 1]) + PERIOD + frames, timeout)

    def frames_at(self, moments: np.ndarray) -> np.ndarray:
        """JACK frames at perf_counter `moments`, read off the nearest earlier captured cycle.

        The dummy driver's cycles wander against the wall clock by a millisecond or more
        over seconds, so a global fit is no good: take the last cycle whose callback began
        before each moment and add the time since, at most one period.
        """
        index, since = self._since(moments)
        return self.cycles[: self.count][index] + np.minimum(since, PERIOD)

    def placed(self, moments: np.ndarray) -> np.ndarray:
        """True where `frames_at` is exact: a moment more than a period after the last capture
        callback means that callback was late (it waits for this process's interpreter lock),
        and the moment's frame is only known to be at least one period on."""
        return self._since(moments)[1] < PERIOD

    def _since(self, moments: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        entered = self.entered[: self.count]
        index = np.clip(np.searchsorted(entered, moments, side="right") - 1, 0, len(entered) - 1)
        return index, np.maximum((np.asarray(moments) - entered[index]) * RATE, 0)

    def close(self) -> None:
        self._collect_again()  # a capture started and never stopped (a failed test)
        self.client.deactivate()
        self.client.close()


def onsets(signal: np.ndarray, threshold: float = 1e-3, min_gap: int = 2400) -> np.ndarray:
    """Frames where the signal first rises above `threshold` after at least `min_gap` quiet frames."""
    loud = np.flatnonzero(np.abs(signal) > threshold)
    if loud.size == 0:
        return loud
    keep = np.r_[True, np.diff(loud) > min_gap]
    return loud[keep]


def wait_for(condition, timeout: float, step: float = 0.01) -> bool:
    """Poll `condition` until it holds (True) or `timeout` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(step)
    return True


def hit_and_capture(engine, servername: str, row: int, col: int, channels: int = 2) -> np.ndarray:
    """Record the engine's JACK output while one pad is hit: float32[frames, channels], about 0.5 s."""
    from liveengine.commands import make_command

    capture = Capture(servername, channels=channels)
    try:
        capture.connect_from("liveengine")
        capture.start()
        time.sleep(0.1)
        engine.submit(make_command("/pad", [row, col, 1.0]))
        time.sleep(0.4)
        audio, _ = capture.stop(every_cycle=False)
    finally:
        capture.close()
    return audio
