"""The supervisor thread (non-real-time, ten times a second): keeps an audio server running, frees
pool slots no voice or queued command names, ends a recording whose disk failed, reports what the
server counted (callback errors), and autosaves. Also the status the engine reports."""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING

import numpy as np

from liveengine.engine.session import autosave_tick
from liveengine.memory import instrument_memory_mb

if TYPE_CHECKING:
    from liveengine.engine.engine import Engine

TICK_SECONDS = 0.1


def supervise(engine: "Engine", stop: threading.Event) -> None:
    changed_at = None
    shared = engine.shared
    error_seq = shared.counter("error_seq")
    while not stop.wait(TICK_SECONDS):
        changed_at = autosave_tick(engine, changed_at)
        recorder = engine.recorder
        if recorder is not None and recorder.error is not None:  # its writer failed (disk full): say so now, free the slot
            engine.stop_recording()
        try:
            engine.server.check()
        except Exception as exc:  # noqa: BLE001 - supervision must go on
            engine.report(f"audio server check failed: {type(exc).__name__}: {exc}")
        engine.pool.collect()
        if engine.stream is not None:
            try:
                engine.stream.check()  # a producer that died is replaced
            except Exception as exc:  # noqa: BLE001 - supervision must go on
                engine.report(f"stream check failed: {type(exc).__name__}: {exc}")
        seq = shared.counter("error_seq")
        if seq != error_seq:
            error_seq = seq
            engine.report(f"audio callback error (block replaced by silence, {shared.counter('callback_errors')} so far): "
                          f"{shared.error_message()}")


def timings(engine: "Engine") -> tuple[np.ndarray, np.ndarray]:
    """The audio callback's recent durations and lateness (seconds), oldest first, from the server."""
    shared = engine.shared
    blocks = shared.blocks.load()
    size = len(shared.callback_seconds)
    index = np.arange(max(0, blocks - size), blocks) % size
    return shared.callback_seconds[index].copy(), shared.lateness_seconds[index].copy()


def status(engine: "Engine") -> dict:
    shared, player, instrument = engine.shared, engine.player, engine.instrument
    seconds, lateness = timings(engine)
    recent = seconds[-2048:]
    period = engine.options.blocksize / engine.options.samplerate
    done, total = instrument.cache.progress
    c = shared.counter
    server = engine.server
    return {
        "voices": engine.voices(),
        "xruns": c("xruns"),
        "queue_drops": engine.fifo.dropped,
        "late_commands": c("late_commands"),
        "schedule_full": c("schedule_full"),
        "stale_commands": c("stale_commands"),
        "callback_errors": c("callback_errors"),
        "blocks": shared.blocks.load(),
        "not_ready": player.not_ready,
        "variation_misses": player.variation_misses,
        "on_demand_misses": player.on_demand_misses,
        # Renders refused (a decode error, silence, NaN): a pad keeps its old sound, a hit between pads its nearest pad.
        "render_failures": instrument.cache.failures + instrument.on_demand.errors,
        "mapping": instrument.setting.mapping,
        "steals": c("steals"),
        "cpu_load": float(np.median(recent) / period) if len(recent) else 0.0,
        "callback_p99": float(np.percentile(recent, 99) / period) if len(recent) else 0.0,
        "lateness_p99_ms": float(np.percentile(lateness[-2048:], 99) * 1000) if len(lateness) else 0.0,
        "rendered": f"{done}/{total}",
        "peak": shared.float("peak"),
        "device_lost": engine.device_lost,
        "server_pid": None if server is None else server.pid,
        "server_restarts": 0 if server is None else server.restarts,
        "server_nice": getattr(server, "nice", 0),
        "server_scheduling": getattr(server, "scheduling", "in process"),
        "pool_slots_used": engine.pool.in_use,
        "pool_full": engine.pool.full,
        "memory_mb": instrument_memory_mb(_pids(engine)),
        **engine.groove_status(),
        **engine.stream_status(),
    }


def _pids(engine: "Engine") -> list[int]:
    """This process, its audio server and its render process: the instrument's memory."""
    others = (getattr(engine.server, "pid", None), getattr(engine.instrument.workers, "pid", None))
    return [os.getpid(), *(pid for pid in others if pid)]
