"""Worker threads that decode pads and install them in the pad cache."""

from __future__ import annotations

import math
import os
import queue
import threading
from dataclasses import dataclass, replace
from typing import Callable

import numpy as np

from liveengine.decoders.base import Decoder
from liveengine.render.buffers import PlayableBuffer, prepare_oneshot, unplayable
from liveengine.render.describe import describe
from liveengine.render.pad_cache import PadCache

BATCH = 8


def render_order(points: np.ndarray, first: int | None, batch: int, cols: int = 0, slots: list[int] | None = None,
                 pads: int = 0) -> list[tuple[np.ndarray, list[int]]]:
    """Split a render into (latent points, slot indices) jobs.

    Slots are pads (0..pads-1) and, after them, each pad's next variation
    (pads..2*pads-1). Pads go before variations; within each, the pads nearest
    `first` on the grid (by row and column distance when `cols` is given) go first.
    Around a hit the first job is the hit pad alone and the next its neighbours (the
    pads a performer hits next), then jobs grow from 4 pads to `batch`: the pads
    nearest it are ready sooner, and a newer setting waits less for the job in hand.
    """
    order = list(range(len(points))) if slots is None else list(slots)
    pads = pads or len(points)
    batch = max(1, min(BATCH, batch))
    chunks: list[list[int]] = []
    if first is not None:
        def distance(slot: int) -> tuple[int, float]:
            pad = slot % pads
            if cols:
                return slot // pads, math.hypot(pad // cols - first // cols, pad % cols - first % cols)
            return slot // pads, float(abs(pad - first))
        order.sort(key=distance)
        near = sum(1 for slot in order if distance(slot) <= (0, 1.0))  # the hit pad and its neighbours lead
        for ring in (order[:1], order[1:near]):
            chunks += [ring[i : i + batch] for i in range(0, len(ring), batch)]
        i, size = near, 4
    else:
        order.sort(key=lambda slot: slot // pads)
        i, size = 0, batch
    while i < len(order):
        chunks.append(order[i : i + min(size, batch)])
        i += len(chunks[-1])
        size *= 2
    row_of = {slot: i for i, slot in enumerate(slots)} if slots is not None else None
    return [(np.asarray(points[chunk if row_of is None else [row_of[slot] for slot in chunk]], np.float32), chunk)
            for chunk in chunks if chunk]


@dataclass(frozen=True)
class RenderFailure:
    """A point the model could not render playably; `reason` says why, as a clause."""

    reason: str


def render_batch(decoder: Decoder, points: np.ndarray, out: np.ndarray, device_rate: int, max_seconds: float,
                 generation: int = 0) -> list[PlayableBuffer | RenderFailure]:
    """Decode `points` into `out` (reused scratch); per point a described PlayableBuffer, or a
    RenderFailure where the model failed or gave no playable sound (it must not enter a cache)."""
    points = np.ascontiguousarray(points, dtype=np.float32)
    batch = out[: len(points)]
    try:
        decoder.decode_into(points, batch)
    except Exception as exc:  # noqa: BLE001 - a model may fail only at some points (a wrong output shape there)
        if len(points) == 1:
            return [RenderFailure(f"the model failed to decode there ({exc})")]
        # One bad point fails its whole batch: each alone, so only the bad ones fail.
        return [result for point in points for result in render_batch(decoder, point[None, :], out, device_rate, max_seconds, generation)]
    classes = classify(decoder, points)
    buffers: list[PlayableBuffer | RenderFailure] = []
    for i, row in enumerate(batch):
        problem = unplayable(row)
        if problem:
            buffers.append(RenderFailure(problem))
            continue
        buffer = prepare_oneshot(row, decoder.sample_rate, device_rate, max_seconds=max_seconds)
        name, probability = classes[i] if classes else (None, 0.0)
        description = describe(buffer.samples[buffer.onset:], device_rate, name, probability)
        buffers.append(replace(buffer, point=points[i].copy(), description=description, generation=generation))
    return buffers


def install(cache: PadCache, slot: int, result: PlayableBuffer | RenderFailure, generation: int,
            on_error: Callable[[BaseException], None] | None) -> bool:
    """Put one render into the cache; a failure keeps the slot's old sound, is counted there, and
    is reported once per grid setting (a broken region of the plane fails many pads at once)."""
    if isinstance(result, RenderFailure):
        if cache.fail(slot, generation) and on_error is not None:
            on_error(RuntimeError(f"{result.reason}; pads that fail keep their old sound (counted in status as render_failures)"))
        return False
    return cache.put(slot, result, generation)


def classify(decoder: Decoder, points: np.ndarray) -> list[tuple[str, float]]:
    """The likeliest class and its probability per point, from the model's classifier; [] without one."""
    if getattr(decoder, "classifier", None) is None or not hasattr(decoder, "classify"):
        return []
    probabilities = decoder.classify(points)
    names = decoder.classes
    best = np.argmax(probabilities, axis=1)
    return [(names[b], float(probabilities[i, b])) for i, b in enumerate(best)]


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

    def render_all(self, points: np.ndarray, first: int | None = None, cols: int = 0, pads: int = 0) -> int:
        """Start a new generation rendering every slot of `points`; the pads nearest `first` go first."""
        generation = self.cache.begin_generation()
        for job_points, slots in render_order(points, first, getattr(self.decoder, "preferred_batch", BATCH), cols, pads=pads):
            self._jobs.put((generation, job_points, slots))
        return generation

    def focus(self, pad: int) -> None:
        """A pad was hit (see ProcessRenderWorkers.focus): threads render the newest setting straight through."""

    def render_more(self, points: np.ndarray, slots: list[int]) -> None:
        """Render some slots again within the current generation (a pad's next variation)."""
        generation = self.cache.generation
        for job_points, chunk in render_order(points, None, getattr(self.decoder, "preferred_batch", BATCH), slots=slots,
                                              pads=self.cache.pads):
            self._jobs.put((generation, job_points, chunk))

    def _run(self) -> None:
        lower_thread_priority()
        out = np.zeros((BATCH, self.decoder.output_length), dtype=np.float32)  # per thread, reused
        while not self._stop.is_set():
            try:
                job = self._jobs.get(timeout=0.2)
            except queue.Empty:
                continue
            if job is None:
                break
            generation, points, slots = job
            if generation != self.cache.generation:
                continue  # superseded before we got to it
            try:
                for slot, result in zip(slots, render_batch(self.decoder, points, out, self.device_rate, self.max_seconds, generation)):
                    if install(self.cache, slot, result, generation, self.on_error):
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


def lower_thread_priority(niceness: int = 10) -> None:
    """Let the audio thread and the sound server win the CPU over rendering (Linux: per-thread nice)."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), niceness)
    except (AttributeError, OSError):
        pass  # not on this system; rendering then competes at normal priority
