"""Rendering a latent point at the moment it is hit (/xy between pads, /latent, /mix).

A hit that is not in any cache renders here, on one thread of the engine's own
process with the engine's copy of the decoder, and plays as soon as it is ready.
Whether it can make the deadline is decided at the hit, from how long recent
renders took and how many are waiting: if not, the caller plays the nearest
ready pad at once and the exact sound is rendered for the next hit at that point.
"""

from __future__ import annotations

import collections
import queue
import threading
import time
from typing import Callable

import numpy as np

from liveengine.decoders.base import Decoder
from liveengine.render.buffers import PlayableBuffer
from liveengine.render.workers import RenderFailure, lower_thread_priority, render_batch

EXACT_CACHE = 256  # recently rendered points kept for repeated hits (e.g. 64 pads x 4 velocity layers): pool slots reserved
EXACT_CACHE_BYTES = 64 * 2**20  # and at most this much audio: long sounds would otherwise keep hundreds of MB
QUEUE = 8


def point_key(point: np.ndarray) -> bytes:
    return np.asarray(point, np.float32).tobytes()


class OnDemandRenderer:
    """`request` renders a point and calls `on_ready(buffer, payload)` from the render thread
    (`on_ready(None, payload)` when the render failed).

    Thread: any control thread calls `request`, `prefetch` and `cached`; the
    decoder is shared with nothing else in this process when pads render in a
    child process (the default), so the render does not wait behind a pad batch.
    """

    def __init__(self, decoder: Decoder, device_rate: int, max_seconds: float, deadline: float,
                 on_ready: Callable[[PlayableBuffer, object], None], on_error: Callable[[BaseException], None] | None = None,
                 adopt: Callable[[PlayableBuffer], PlayableBuffer | None] | None = None, warm_up: bool = True) -> None:
        """warm_up=False: the warm-up waits for `warm_up()` (a model still on trial is not warmed up)."""
        self.decoder = decoder
        self.device_rate = device_rate
        self.max_seconds = max_seconds
        self.deadline = deadline
        self.on_ready = on_ready
        self.on_error = on_error
        self.adopt = adopt  # puts a render into the sample pool (None when full: it stays unpooled)
        self.seconds = collections.deque(maxlen=32)  # recent render times
        self.rendered = 0
        self.errors = 0
        self._exact: collections.OrderedDict[bytes, PlayableBuffer] = collections.OrderedDict()
        self.max_bytes = EXACT_CACHE_BYTES
        self.cached_bytes = 0  # audio held by the exact-point cache (samples and envelopes)
        self._exact_lock = threading.Lock()
        self._jobs: queue.Queue = queue.Queue(QUEUE)
        self._busy = False
        self._out = np.zeros((1, decoder.output_length), np.float32)
        self.ready = threading.Event()  # set once the warm-up renders are timed (wait_ready)
        self._go = threading.Event()  # the warm-up may start
        self._stopping = False
        if warm_up:
            self._go.set()
        self._thread = threading.Thread(target=self._run, name="liveengine-on-demand", daemon=True)
        self._thread.start()

    def warm_up(self) -> None:
        """Let the warm-up start (for a renderer made with warm_up=False)."""
        self._go.set()

    def _measure(self) -> None:
        """Warm the decoder up (its first runs allocate and pick kernels) and time a few renders, so
        the first decision is informed. On this thread: the caller goes on (the grid renders meanwhile)."""
        try:
            point = np.zeros((1, self.decoder.latent_dim), np.float32)
            for _ in range(3):
                start = time.perf_counter()
                result = render_batch(self.decoder, point, self._out, self.device_rate, self.max_seconds)[0]
                if isinstance(result, RenderFailure):
                    raise RuntimeError(f"between-pad renders fail: {result.reason}")
                self.seconds.append(time.perf_counter() - start)
        except Exception as exc:  # noqa: BLE001 - reported; each request then says its own failure
            self.errors += 1
            if self.on_error is not None:
                self.on_error(exc)
        finally:
            self.ready.set()

    def wait_ready(self, timeout: float | None = None) -> bool:
        return self.ready.wait(timeout)

    @property
    def predicted(self) -> float:
        """Seconds until a render requested now would be ready: the jobs ahead of it plus itself
        (infinite before the warm-up is timed, or when it failed: a hit then plays the nearest pad rather
        than wait for a render that may never come)."""
        if not self.ready.is_set() or not self.seconds:
            return float("inf")
        typical = float(np.percentile(self.seconds, 90))
        return (self._jobs.qsize() + int(self._busy) + 1) * typical

    def cached(self, point: np.ndarray) -> PlayableBuffer | None:
        with self._exact_lock:
            buffer = self._exact.get(point_key(point))
            if buffer is not None:
                self._exact.move_to_end(point_key(point))
            return buffer

    def request(self, point: np.ndarray, payload: object) -> bool:
        """Render now and call on_ready; False (nothing queued) if it would miss the deadline."""
        if self.predicted > self.deadline:
            return False
        return self._put(point, payload)

    def render_wait(self, point: np.ndarray, timeout: float) -> PlayableBuffer | None:
        """Render the point and wait for it, whatever the deadline (offline renders, where the
        clock waits for the sound): None if it failed or took longer than `timeout`."""
        waiter = _Waiter()
        try:
            self._jobs.put((np.asarray(point, np.float32).reshape(1, -1), waiter), timeout=timeout)
        except queue.Full:
            return None
        return waiter.get(timeout)

    def prefetch(self, point: np.ndarray) -> bool:
        """Render for the cache only (after a missed deadline), if there is room."""
        return self._put(point, None)

    def _put(self, point: np.ndarray, payload: object) -> bool:
        try:
            self._jobs.put_nowait((np.asarray(point, np.float32).reshape(1, -1), payload))
        except queue.Full:
            return False
        return True

    def _run(self) -> None:
        lower_thread_priority(5)  # below the audio thread, above background pad rendering
        self._go.wait()
        if self._stopping:
            self.ready.set()
            return
        self._measure()
        while True:
            job = self._jobs.get()
            if job is None:
                return
            point, payload = job
            self._busy = True
            try:
                start = time.perf_counter()
                buffer = render_batch(self.decoder, point, self._out, self.device_rate, self.max_seconds)[0]
                self.seconds.append(time.perf_counter() - start)
                if isinstance(buffer, RenderFailure):  # never cached nor played: the caller's fallback plays
                    raise RuntimeError(buffer.reason)
                if self.adopt is not None:
                    buffer = self.adopt(buffer) or buffer
                self._keep(point_key(point[0]), buffer)
                self.rendered += 1  # counted once kept: whoever sees the count can hit the point and find it cached
                if isinstance(payload, _Waiter):
                    payload.put(buffer)
                elif payload is not None:
                    self.on_ready(buffer, payload)
            except Exception as exc:  # a failed render is reported; the thread goes on
                if isinstance(payload, _Waiter):
                    payload.put(None)
                elif payload is not None:
                    self.on_ready(None, payload)  # the caller plays something else rather than nothing
                self.errors += 1
                if self.on_error is not None:
                    self.on_error(exc)
            finally:
                self._busy = False

    def _keep(self, key: bytes, buffer: PlayableBuffer) -> None:
        """Cache a render; the oldest go while the cache holds more than EXACT_CACHE sounds or max_bytes."""
        with self._exact_lock:
            old = self._exact.pop(key, None)
            self.cached_bytes += _size(buffer) - (_size(old) if old is not None else 0)
            self._exact[key] = buffer
            while len(self._exact) > 1 and (len(self._exact) > EXACT_CACHE or self.cached_bytes > self.max_bytes):
                self.cached_bytes -= _size(self._exact.popitem(last=False)[1])

    def stop(self) -> None:
        self._stopping = True
        self._go.set()
        try:
            self._jobs.put(None, timeout=1.0)
        except queue.Full:
            pass
        self._thread.join(timeout=2.0)


def _size(buffer: PlayableBuffer) -> int:
    return buffer.samples.nbytes + buffer.envelope.nbytes


class _Waiter:
    """One render's result, handed from the render thread to a caller that waits for it."""

    def __init__(self) -> None:
        self._done = threading.Event()
        self._buffer: PlayableBuffer | None = None

    def put(self, buffer: PlayableBuffer | None) -> None:
        self._buffer = buffer
        self._done.set()

    def get(self, timeout: float) -> PlayableBuffer | None:
        return self._buffer if self._done.wait(timeout) else None
