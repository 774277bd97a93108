"""Worker threads that decode pads and install them in the pad cache."""

from __future__ import annotations

import os
import queue
import threading
from typing import Callable

import numpy as np

from liveengine.decoders.base import Decoder
from liveengine.render.buffers import prepare_oneshot
from liveengine.render.pad_cache import PadCache

BATCH = 8


def render_order(points: np.ndarray, first: int | None, batch: int) -> list[tuple[np.ndarray, list[int]]]:
    """Split a grid render into (latent points, pad indices) jobs; pads nearest `first` go first."""
    order = list(range(len(points)))
    if first is not None:
        order.sort(key=lambda pad: abs(pad - first))
    batch = max(1, min(BATCH, batch))
    return [(np.asarray(points[order[i : i + batch]], np.float32), order[i : i + batch]) for i in range(0, len(order), batch)]


def render_batch(decoder: Decoder, points: np.ndarray, out: np.ndarray, device_rate: int, max_seconds: float) -> list:
    """Decode `points` into `out` (reused scratch) and prepare one PlayableBuffer per point."""
    batch = out[: len(points)]
    decoder.decode_into(np.ascontiguousarray(points, dtype=np.float32), batch)
    return [prepare_oneshot(row, decoder.sample_rate, device_rate, max_seconds=max_seconds) for row in batch]


class RenderWorkers:
    """Render jobs: (generation, latent points, pad indices). Results go to the cache.

    Decoding runs numpy or onnxruntime code that releases the GIL for most of
    its time, which is what keeps the audio callback on time beside it.
    """

    def __init__(self, decoder: Decoder, cache: PadCache, device_rate: int, threads: int = 1, max_seconds: float = 4.0,
                 on_error: Callable[[BaseException], None] | None = None) -> None:
        self.decoder = decoder
        self.cache = cache
        self.device_rate = device_rate
        self.max_seconds = max_seconds
        self.on_error = on_error
        self.errors = 0
        self.rendered = 0
        self._jobs: queue.Queue = queue.Queue()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, name=f"liveengine-render-{i}", daemon=True) for i in range(threads)]
        for thread in self._threads:
            thread.start()

    def render_all(self, points: np.ndarray, first: int | None = None) -> int:
        """Start a new generation rendering every pad; `first` (a pad) goes first."""
        generation = self.cache.begin_generation()
        for job_points, pads in render_order(points, first, getattr(self.decoder, "preferred_batch", BATCH)):
            self._jobs.put((generation, job_points, pads))
        return generation

    def _run(self) -> None:
        _lower_thread_priority()
        out = np.zeros((BATCH, self.decoder.output_length), dtype=np.float32)  # per thread, reused
        while not self._stop.is_set():
            try:
                job = self._jobs.get(timeout=0.2)
            except queue.Empty:
                self.cache.drop_retired()
                continue
            if job is None:
                break
            generation, points, pads = job
            if generation != self.cache.generation:
                continue  # superseded before we got to it
            try:
                for pad, buffer in zip(pads, render_batch(self.decoder, points, out, self.device_rate, self.max_seconds)):
                    if self.cache.put(pad, buffer, generation):
                        self.rendered += 1
            except Exception as exc:  # a bad render must not kill the worker; report it
                self.errors += 1
                if self.on_error is not None:
                    self.on_error(exc)

    def stop(self) -> None:
        self._stop.set()
        for _ in self._threads:
            self._jobs.put(None)
        for thread in self._threads:
            thread.join(timeout=2.0)


def _lower_thread_priority(niceness: int = 10) -> None:
    """Let the audio thread and the sound server win the CPU over rendering (Linux: per-thread nice)."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), niceness)
    except (AttributeError, OSError):
        pass  # not on this system; rendering then competes at normal priority
