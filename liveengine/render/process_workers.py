"""Rendering in a separate process, so decoding never competes with the audio callback for the GIL.

numpy holds the GIL through some long calls, and even onnxruntime's Python
wrapper takes it around each run; rendering in-process cost a few xruns a minute
under continuous re-rendering (bench/). Here a child process owns its own copy
of the decoder; only finished buffers come back, as a memcpy on a receiver thread.
"""

from __future__ import annotations

import atexit
import dataclasses
import multiprocessing
import os
import queue
import sys
import threading
import time
from collections import deque
from pathlib import Path
from typing import Callable, NamedTuple

import numpy as np

from liveengine.render.buffers import PlayableBuffer, fit_into
from liveengine.render.pad_cache import PadCache
from liveengine.render.on_demand import point_key
from liveengine.render.probe import Trial, probe, refuse
from liveengine.render.workers import RenderFailure, install, render_batch, render_order

# While a knob moves, each move re-renders the grid from the hit pad outwards, and the far pads of one
# setting are replaced by the next move before anyone hears them. So the first EAGER_PADS pads of a
# setting (the hit pad and its 4 neighbours: render_order's first two jobs, or five single pads for a
# model that decodes one at a time) render at once, and the rest waits for the knob to rest: until no
# new setting came for SETTLE_FACTOR x the longest of the last RECENT_MOVES gaps between settings (at most
# SETTLE_SECONDS; the longest, since two knobs turned together send their moves in pairs). A 20 Hz
# sweep then costs the render process about half a core instead of all of it, and the whole grid is
# fresh at most that wait later after the knob's last move.
EAGER_PADS = 5
SETTLE_FACTOR = 1.25
SETTLE_SECONDS = 0.1
RECENT_MOVES = 4
LEASED_SLOTS = 16  # pool slots a render process holds to write into: two full batches
QUICK_EXIT_SECONDS = 5.0  # a child that dies sooner than this after starting did not get to work
MAX_RESTART_WAIT = 60.0
START_ALLOWANCE = 60.0  # seconds a new render process may take to load its model, on top of its probe's budget


# What goes between the engine and its render process, by name (pickled across the process boundary).
class GridJob(NamedTuple):
    """Render the grid for setting `generation`: batches of (latent points, slots), nearest the last hit first."""
    generation: int
    batches: list
    sent: float = 0.0  # time.monotonic() when the setting changed (one clock for every process): the gaps
    # between moves are read from it, not from when the render process got to its inbox between jobs


class FocusJob(NamedTuple):
    """The same setting's grid again, ordered from a pad hit since (its pads render at once, even while
    the rest waits for the knob to rest)."""
    generation: int
    batches: list


class MoreJob(NamedTuple):
    """Render a few more slots (a pad's next variation) for setting `generation`."""
    generation: int
    points: np.ndarray
    slots: list


class Ready(NamedTuple):
    problem: str  # "" when the model loaded and passed its probe (render/probe.py)


class ChildError(NamedTuple):
    text: str


class Rendered(NamedTuple):
    generation: int
    slot: int
    samples: np.ndarray
    envelope: np.ndarray
    onset: int
    peak: float
    point: np.ndarray
    description: object


class Written(NamedTuple):
    """A render the process wrote straight into a leased pool slot: no samples cross the process boundary."""
    generation: int
    slot: int
    pool_slot: int
    length: int
    truncated: bool
    envelope: np.ndarray
    onset: int
    peak: float
    point: np.ndarray
    description: object


class PoolAccess(NamedTuple):
    """The engine's sample pool (server/pool.py), for writing renders into the slots leased with Slots:
    where its float32 [slots, frames] samples lie in the shared segment. Plain numbers, so the render
    process imports nothing of the audio server's (its atomic words cost 17 ms of imports)."""
    fd: "SharedFd | int"  # a SharedFd when sent, the render process's own descriptor when received
    size: int  # of the whole segment
    offset: int
    slots: int
    frames: int


def _render_taking(early: dict, decoder, points: np.ndarray, out: np.ndarray, device_rate: int, max_seconds: float,
                   generation: int) -> list:
    """render_batch, except that points found in `early` (the trial's renders, by point_key) are taken
    from it, each once, instead of being rendered again."""
    taken = [early.pop(point_key(point), None) for point in points] if early else [None] * len(points)
    todo = [i for i, buffer in enumerate(taken) if buffer is None]
    fresh = iter(render_batch(decoder, points[todo], out, device_rate, max_seconds, generation) if todo else ())
    return [next(fresh) if buffer is None else dataclasses.replace(buffer, generation=generation) for buffer in taken]


def _map_pool(access: PoolAccess) -> np.ndarray:
    """The render process's view of the pool's samples; the array keeps the mapping alive."""
    import mmap

    try:
        mapping = mmap.mmap(access.fd, access.size, flags=mmap.MAP_SHARED)
    finally:
        os.close(access.fd)
    return np.frombuffer(mapping, np.float32, count=access.slots * access.frames, offset=access.offset).reshape(access.slots, access.frames)


class Slots(NamedTuple):
    """Pool slots leased to the render process: each takes one render, then the engine leases another."""
    slots: list


class SharedFd:
    """A file descriptor that pickles as a duplicate for the process that unpickles it (multiprocessing's
    own descriptor passing), so the pool reaches a render process through its job queue: one started
    ahead by prestart, before the pool existed, or a replacement, alike."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def __reduce__(self):
        from multiprocessing import reduction

        return _received_fd, (reduction.DupFd(self.fd),)


def _received_fd(duplicate) -> int:
    return duplicate.detach()


class Failed(NamedTuple):
    generation: int
    slot: int
    reason: str


# Render processes are forked from multiprocessing's fork server on Linux: one clean, single-threaded
# process started early (`warm_start`, the first thing `play` does) that has numpy, onnxruntime and the
# render code imported; a render process then starts in milliseconds instead of a new interpreter's
# second or so, at start-up and after a crash. Elsewhere a fresh interpreter each time (spawn). Never a
# plain fork of the control process: it has threads and audio handles.
PRELOAD = ["liveengine.render.process_workers", "liveengine.decoders.registry", "onnxruntime", "soxr"]


def _context():
    if sys.platform.startswith("linux"):
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(PRELOAD)
        return context
    return multiprocessing.get_context("spawn")


def warm_start() -> None:
    """Start the fork server now, so its imports overlap the caller's own start-up (a no-op elsewhere)."""
    if _context().get_start_method() == "forkserver":
        from multiprocessing import forkserver

        forkserver.ensure_running()


class TrialJob(NamedTuple):
    """For a render process started ahead (prestart): the trial to pass before rendering (None: none)."""
    trial: Trial | None


class _Standby(NamedTuple):
    """A render process prestart started ahead, for an engine to adopt."""
    args: tuple  # the child's arguments: adopted only by an engine asking for the same
    process: object
    jobs: object
    results: object
    generation: object
    starter: threading.Thread  # runs process.start() (it waits for the fork server)

    def end(self, wait: float = 0.0) -> None:
        """Not adopted: wait for its start, then ask it to exit (and wait up to `wait` s for that)."""
        self.starter.join()
        if self.process.pid is not None:
            self.jobs.put(None)
            if wait:
                self.process.join(timeout=wait)


_standby: _Standby | None = None


def prestart(spec: str, patch_path: Path | None, model_options: dict, device_rate: int, max_seconds: float) -> None:
    """Start the render process for this model now, before the engine is built: it loads the model
    while the control process loads its own copy and lays out its memory; the engine's
    ProcessRenderWorkers then adopts it (same model and settings) and sends it the trial.

    The start itself runs on a thread: it waits for the fork server's interpreter and imports (about
    0.1 s), which the caller's own start-up can use."""
    global _standby
    if _standby is not None:
        return
    context = _context()
    args = (spec, str(patch_path) if patch_path else None, model_options, device_rate, max_seconds)
    jobs, results, generation = context.Queue(), context.Queue(), context.Value("q", 0, lock=False)
    process = context.Process(target=_child, name="liveengine-render", daemon=True,
                              args=(*args, jobs, results, generation, os.getpid(), None, True))
    starter = threading.Thread(target=_start_quietly, args=(process,), name="liveengine-render-prestart", daemon=True)
    starter.start()
    _standby = _Standby(args, process, jobs, results, generation, starter)
    atexit.unregister(_drop_standby)
    atexit.register(_drop_standby)  # once: an engine that failed to build never adopts it


def _drop_standby() -> None:
    """End a standby no engine adopted (at exit: an engine that failed to build). Its start and its end
    are both waited for: exiting in the middle of either (the child still unpickling its queues, whose
    named semaphores the resource tracker removes once we are gone) prints the child's traceback."""
    global _standby
    standby, _standby = _standby, None
    if standby is not None:
        standby.end(wait=3.0)


def _start_quietly(process) -> None:
    try:
        process.start()
    except Exception:  # noqa: BLE001 - the engine then starts its own child, which says what is wrong
        pass


def _adopt_standby(args: tuple):
    """(process, jobs, results, generation) prestart made, if made for these arguments and started; else None (it is ended)."""
    global _standby
    standby, _standby = _standby, None
    if standby is None:
        return None
    standby.starter.join()
    if standby.args == args and standby.process.is_alive():
        return standby.process, standby.jobs, standby.results, standby.generation
    standby.end(wait=3.0)
    return None


def _gone(engine: int) -> bool:
    """Whether the engine's process has ended. Not our parent's: from the fork server that is the fork
    server, which itself lives as long as its children do."""
    try:
        os.kill(engine, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass
    return False


class RenderQueue:
    """The render process's inbox policy: which job renders next, and how long to wait for a message.

    Single requests (a pad's next variation) go first. Of the newest grid request the first EAGER_PADS
    pads go at once; while the knob keeps moving the rest waits for it to rest (see EAGER_PADS). A
    FocusJob reorders what is left of the current request around a newly hit pad, whose pads go at once
    again (pads already rendered for this setting are not rendered twice).
    Clock-free (`now` is passed in), so its policy is tested without a process or a sleep.
    """

    def __init__(self) -> None:
        self.todo: list = []  # (generation, points, slots) batches of the newest grid request
        self.extras: list = []  # single requests (a pad's next variation): small and urgent
        self.done = 0  # pads of the newest grid request (or focus) sent to render so far
        self.handed: set = set()  # slots of the newest grid request sent to render (a focus does not repeat them)
        self.last_grid = -1e9  # when the newest grid request came
        self.gaps: deque = deque(maxlen=RECENT_MOVES)  # seconds between the last grid requests
        self.hold = 0.0  # how long after it the far pads wait for the knob to rest (0: the knob is not moving)

    def add(self, message, current: int, now: float) -> None:
        """Take one message from the engine (`current`: the engine's newest setting)."""
        if isinstance(message, FocusJob):
            if message.generation == current:  # a newer setting makes it moot
                self.todo = [(message.generation, points[keep], [slots[i] for i in keep]) for points, slots in message.batches
                             if (keep := [i for i, slot in enumerate(slots) if slot not in self.handed])]
                self.done = 0
        elif isinstance(message, GridJob):
            self.todo = [(message.generation, points, slots) for points, slots in message.batches]
            self.handed = set()
            now = message.sent or now
            self.gaps.append(now - self.last_grid)
            self.last_grid, self.done = now, 0
            moving = self.gaps[-1] < SETTLE_SECONDS
            self.hold = min(SETTLE_SECONDS, SETTLE_FACTOR * max(g for g in self.gaps if g < SETTLE_SECONDS)) if moving else 0.0
        elif isinstance(message, MoreJob):
            self.extras.append((message.generation, message.points, message.slots))

    def eager(self) -> bool:
        return self.done < EAGER_PADS

    def wait(self, now: float) -> float:
        """Seconds to wait for a message before the next job (0: a job is ready now)."""
        if self.extras:
            return 0.0
        if self.todo:
            return 0.0 if self.eager() else max(0.0, self.last_grid + self.hold - now)
        return 0.5  # idle: wakes to see a dead engine

    def next(self, current: int, now: float):
        """The next (generation, points, slots) to render, or None (nothing, or the far pads wait)."""
        while self.extras:
            job = self.extras.pop(0)
            if job[0] == current:
                return job
        if self.todo and (self.eager() or now >= self.last_grid + self.hold):
            job = self.todo.pop(0)
            if job[0] != current:
                self.todo = []  # the whole request is superseded (a newer one is on its way)
                return None
            self.done += len(job[2])
            self.handed.update(job[2])
            return job
        return None


def _child(spec: str, patch_path: str | None, model_options: dict, device_rate: int, max_seconds: float,
           jobs, results, generation, engine: int, trial: Trial | None = None, trial_to_come: bool = False) -> None:
    """Child process: render the latest grid request and any single-slot requests; send buffers back.

    Coalescing: a knob sweep sends one GridJob per
    move. Before each batch the child drains its inbox and keeps only the newest
    grid request, so stale settings are dropped at batch granularity and the
    newest setting's pads nearest the last hit render first. Exits on None or
    when the engine's process is gone. With a `trial` the model is probed first (render/probe.py) and Ready carries what the probe found.
    """
    from liveengine.decoders.registry import load_decoder
    from liveengine.render.workers import lower_thread_priority
    lower_thread_priority()
    try:
        # Decoding alone: the engine's process loads the rest (the fit gradient, the encoder on first use) and checks it.
        decoder = load_decoder(spec, Path(patch_path) if patch_path else None, **model_options, decode_only=True)
        if trial_to_come:  # started ahead: the engine that adopts us sends the trial first
            while True:
                try:
                    message = jobs.get(timeout=0.5)
                    break
                except queue.Empty:
                    if _gone(engine):
                        return
            if message is None:
                return
            trial = message.trial
        # No warm-up of its own after the probe: the grid, queued behind the trial, is the warm-up,
        # and the pads the trial rendered are taken from it rather than rendered again.
        early: dict = {}
        problem = probe(decoder, trial, device_rate, max_seconds, keep=early) if trial else ""
    except Exception as exc:  # reported by the parent; the parent already validated this model
        results.put(ChildError(f"{type(exc).__name__}: {exc}"))
        return  # the queue's thread flushes the reason before the process exits (it was lost 1 run in 3)
    results.cancel_join_thread()  # from here on, exit promptly even if the parent stopped reading results
    results.put(Ready(problem))  # with a problem the parent refuses the model and stops us
    out = np.zeros((8, decoder.output_length), np.float32)
    inbox = RenderQueue()
    pool = None  # the engine's pool slots once PoolAccess came: float32[slots, frames]
    leased: list[int] = []  # pool slots to write renders into
    while True:
        message = _take(jobs, inbox.wait(time.monotonic()), results, engine)
        if _gone(engine):
            return  # the engine died without stopping us (e.g. SIGKILL): do not linger
        while message != ():
            if message is None:
                return
            if isinstance(message, PoolAccess):
                pool = _map_pool(message)
            elif isinstance(message, Slots):
                leased += message.slots
            else:
                inbox.add(message, generation.value, time.monotonic())
            message = _take(jobs, 0.0, results, engine)
        job = inbox.next(generation.value, time.monotonic())
        if job is None:
            continue
        job_generation, points, slots = job
        try:
            for slot, b in zip(slots, _render_taking(early, decoder, points, out, device_rate, max_seconds, job_generation)):
                if isinstance(b, RenderFailure):
                    results.put(Failed(job_generation, slot, b.reason))
                elif pool is not None and leased:  # straight into the pool: the engine copies nothing
                    pool_slot = leased.pop()
                    length, truncated = fit_into(pool[pool_slot], b.samples)
                    results.put(Written(job_generation, slot, pool_slot, length, truncated, b.envelope, b.onset, b.peak,
                                        b.point, b.description))
                else:
                    results.put(Rendered(job_generation, slot, b.samples, b.envelope, b.onset, b.peak, b.point, b.description))
        except Exception as exc:
            results.put(ChildError(f"{type(exc).__name__}: {exc}"))
        if early and not inbox.todo:
            early.clear()  # the first grid is done (or superseded): the trial's pads are of no more use


def _take(jobs, wait: float, results, engine: int):
    """The next message from the engine, () if none came within `wait` seconds, None (stop) if the
    engine is gone. A message that cannot be received (the pool's descriptor, whose sender died while
    handing it over) is reported and skipped; without the pool, renders come back through the results queue."""
    try:
        return jobs.get(timeout=wait) if wait > 0 else jobs.get_nowait()
    except queue.Empty:
        return ()
    except OSError as exc:
        if _gone(engine):
            return None
        results.put(ChildError(f"a message from the engine did not arrive ({exc.strerror or exc})"))
        return ()


class ProcessRenderWorkers:
    """Same interface as RenderWorkers (render_all, stop, rendered, errors), one child process.

    With a `trial` the child probes the model (render/probe.py) before
    anything renders, and `await_verdict` raises LiveEngineError (child stopped) if the probe
    fails or does not answer in time.
    """

    def __init__(self, spec: str, patch_path: Path | None, model_options: dict, preferred_batch: int, cache: PadCache,
                 device_rate: int, max_seconds: float = 4.0, on_error: Callable[[BaseException], None] | None = None,
                 trial: Trial | None = None) -> None:
        self._context = _context()
        self._child_args = (spec, str(patch_path) if patch_path else None, model_options, device_rate, max_seconds)
        self.cache = cache
        self.batch = preferred_batch
        self.on_error = on_error
        self.errors = 0
        self.rendered = 0
        self.restarts = 0
        self._quick_exits = 0  # children in a row that died soon after starting: the wait before the next grows
        self._last_grid: GridJob | None = None  # the newest grid request, sent again to a replacement child
        self._grid: tuple = ()  # (generation, points, cols, pads) of that request, to order it again around a hit
        self._focused: int | None = None  # the pad the newest order starts from
        self.pool = cache.pool  # renders go straight into its slots (server/pool.py), leased LEASED_SLOTS at a time
        self._leased: set[int] = set()  # slots leased to the current child and not yet written
        self.written = 0  # renders the child wrote into the pool
        self.copied = 0  # renders whose samples came through the results queue (no pool, or no slot to lease)
        adopted = _adopt_standby(self._child_args)
        if adopted is not None:  # started ahead by prestart: it has loaded the model already
            self._process, self._jobs, self._results, self._generation = adopted
            self._started = time.monotonic()
            self._jobs.put(TrialJob(trial))
            self._give_pool()
        else:
            self._generation = self._context.Value("q", 0, lock=False)
            self._start_child(trial)
        self._stop = threading.Event()
        self._stopping = False
        self._receiver = threading.Thread(target=self._receive, name="liveengine-render-receiver", daemon=True)
        self._verdict = (spec, START_ALLOWANCE + trial.timeout) if trial is not None else None
        if trial is None:
            self._receiver.start()

    def await_verdict(self) -> None:
        """Wait for the trial's verdict (LiveEngineError, child stopped, if the model is refused), then
        take renders. The constructor does not wait: a grid sent before this queues behind the trial,
        so the child renders it the moment the trial passes."""
        if self._verdict is not None:
            spec, timeout = self._verdict
            self._verdict = None
            self._await_verdict(spec, timeout)
            self._receiver.start()

    def _start_child(self, trial: Trial | None = None) -> None:
        """A child with fresh queues: one killed while holding a queue's lock would leave it locked forever."""
        self._jobs = self._context.Queue()
        self._results = self._context.Queue()
        self._process = self._context.Process(target=_child, name="liveengine-render", daemon=True,
                                              args=(*self._child_args, self._jobs, self._results, self._generation, os.getpid(), trial))
        self._process.start()
        self._started = time.monotonic()
        self._give_pool()

    def _give_pool(self) -> None:
        """Give a new child the pool and its first leases (sent after its trial, read before any job)."""
        if self.pool is not None:
            state = self.pool.state
            offset, _, (slots, frames) = state.layout.regions()["samples"]
            self._jobs.put(PoolAccess(SharedFd(state.segment.fd), state.layout.size, offset, slots, frames))
            self._lease()

    def _lease(self) -> None:
        """Top the child's slots up to LEASED_SLOTS (fewer while the pool is short of free slots)."""
        slots = self.pool.lease(LEASED_SLOTS - len(self._leased))
        if slots:
            self._leased.update(slots)
            self._jobs.put(Slots(slots))

    def _give_back_leases(self) -> None:
        """The child has ended: what it was lent and did not write is free again."""
        if self.pool is not None:
            self.pool.unlease(list(self._leased))
            self._leased.clear()

    @property
    def pid(self) -> int | None:
        """The render process's id (a replacement's after a restart)."""
        return self._process.pid

    def _await_verdict(self, model: str, timeout: float) -> None:
        """Wait for the child's probe; on anything but a pass stop the child and raise the refusal."""
        deadline = time.monotonic() + timeout
        message = None
        while message is None:
            try:
                message = self._results.get(timeout=0.2)
            except queue.Empty:
                if not self._process.is_alive():
                    message = ChildError(f"the render process exited (code {self._process.exitcode}) while loading it")
                elif time.monotonic() > deadline:
                    message = ChildError(f"the render process did not load and try it within {timeout:.0f} s")
        if isinstance(message, Ready):
            problem = message.problem
        elif isinstance(message, ChildError):
            problem = message.text
        else:
            problem = f"unexpected message {type(message).__name__}"
        if problem:
            self._end_child()
            self._give_back_leases()
            # Closed now, not at interpreter exit. What the child never read (the grid queued behind the
            # trial) is dropped: waiting to flush it into a pipe nobody reads would wait for ever.
            self._jobs.close()
            self._jobs.cancel_join_thread()
            self._results.close()
            self._results.join_thread()
            refuse(model, problem)

    def render_all(self, points: np.ndarray, first: int | None = None, cols: int = 0, pads: int = 0) -> int:
        generation = self.cache.begin_generation()
        self._generation.value = generation
        self._last_grid = GridJob(generation, render_order(points, first, self.batch, cols, pads=pads), time.monotonic())
        self._grid, self._focused = (generation, points, cols, pads), first  # one assignment: focus reads it whole
        self._jobs.put(self._last_grid)
        return generation

    def focus(self, pad: int) -> None:
        """A pad was hit: if the current setting has not rendered it yet, its pads go first (once per pad
        and setting; any control thread)."""
        grid = self._grid
        if not grid or pad == self._focused or self.cache.fresh[pad] or grid[0] != self.cache.generation:
            return
        self._focused = pad
        generation, points, cols, pads = grid
        self._jobs.put(FocusJob(generation, render_order(points, pad, self.batch, cols, pads=pads)))

    def render_more(self, points: np.ndarray, slots: list[int]) -> None:
        generation = self.cache.generation
        for job_points, chunk in render_order(points, None, self.batch, slots=slots, pads=self.cache.pads):
            self._jobs.put(MoreJob(generation, job_points, chunk))

    def _receive(self) -> None:
        while not self._stop.is_set():
            try:
                message = self._results.get(timeout=0.2)
            except queue.Empty:
                if not self._process.is_alive() and not self._stopping:
                    self._restart()
                continue
            except (EOFError, OSError):
                return
            if isinstance(message, Written):
                self._leased.discard(message.pool_slot)
                try:
                    buffer = self.pool.adopt_written(message.pool_slot, message.length, message.truncated,
                                                     PlayableBuffer(None, message.envelope, message.onset, message.peak, message.point,
                                                                    message.description, message.generation))
                except ValueError as exc:  # a slot it was not lent: its render is dropped, reported
                    self._fail(exc)
                    continue
                self.written += 1
                if self.cache.put(message.slot, buffer, message.generation):  # refused (a newer setting): the slot frees itself
                    self.rendered += 1
                del buffer
                self._lease()
            elif isinstance(message, Rendered):
                message.samples.flags.writeable = False
                buffer = PlayableBuffer(message.samples, message.envelope, message.onset, message.peak, message.point,
                                        message.description, message.generation)
                self.copied += 1
                if self.cache.put(message.slot, buffer, message.generation):
                    self.rendered += 1
            elif isinstance(message, Failed):
                install(self.cache, message.slot, RenderFailure(message.reason), message.generation, self.on_error)
            elif isinstance(message, ChildError):
                self._fail(RuntimeError(message.text))

    def _restart(self) -> None:
        """The child died (killed, crashed): report it, start another, and render the newest grid again.

        Pads already rendered keep playing meanwhile; a pad whose render was lost is
        rendered by the replacement (the cache refuses nothing of the current generation).
        A child that keeps dying at start (a broken install, a model that crashes the
        runtime) is restarted after a wait that doubles each time, up to a minute, rather
        than in a loop that would take a core from the audio server."""
        lived = time.monotonic() - self._started
        self._quick_exits = self._quick_exits + 1 if lived < QUICK_EXIT_SECONDS else 0
        wait = 0.0 if self._quick_exits <= 1 else min(MAX_RESTART_WAIT, 0.5 * 2 ** (self._quick_exits - 2))
        later = f" in {wait:.1f} s ({self._quick_exits} exits in a row within {QUICK_EXIT_SECONDS:.0f} s of starting)" if wait else ""
        self._fail(RuntimeError(f"the render process exited (code {self._process.exitcode}); starting another{later}"))
        self._give_back_leases()  # the dead child wrote nothing more into them
        if wait and self._stop.wait(wait):
            return
        old_jobs = self._jobs
        self._start_child()
        self.restarts += 1
        old_jobs.cancel_join_thread()
        if self._last_grid is not None and self._last_grid.generation == self.cache.generation:
            self._jobs.put(self._last_grid)

    def _fail(self, exc: BaseException) -> None:
        self.errors += 1
        if self.on_error is not None:
            self.on_error(exc)

    def stop(self) -> None:
        self._stopping = True
        self._end_child()
        self._stop.set()
        if self._receiver.ident is not None:  # started (not when the trial refused the model, or was never awaited)
            self._receiver.join(timeout=2.0)
        self._jobs.cancel_join_thread()
        if not self._process.is_alive():  # one that would not end keeps its slots: it may still write into them
            self._give_back_leases()

    def _end_child(self) -> None:
        try:
            self._jobs.put(None)
        except (OSError, ValueError):
            pass
        self._process.join(timeout=3.0)
        if self._process.is_alive():  # busy in a long decode, or hung
            self._process.terminate()
            self._process.join(timeout=2.0)
