"""The audio callback's own cost, offline: RealtimeCore.process at 32 voices, against a bare numpy mix of
32 voices in the same process, interleaved round by round.

    python bench/callback_cost.py [--blocks 20000] [--rounds 3]

No audio device and no JACK: the core runs on a fake clock (as the offline backend does), so the figure is
the callback's Python and numpy work alone, without the scheduler's noise that bench/run.py's JACK figure
carries. The load: 64 one-second noise sounds in the sample pool, two pad starts every 4 blocks of 128
frames (32 voices stay busy, the oldest stolen and faded), master gain 0.5. The baseline: 32 one-second
segments copied into rows and summed with one dot product per block, the least any voice mix can do.
Also the atomic words' load and store (server/shm.py) against the atomics package's own calls.
Writes bench/results_callback_cost.json; docs/benchmarks.md summarises it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import timeit
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
FRAMES, VOICES = 128, 32


def make_core():
    from liveengine.options import EngineOptions
    from liveengine.render.buffers import PlayableBuffer
    from liveengine.rt.core import ASAP, START, RealtimeCore
    from liveengine.rt.voices import ENVELOPE_HOP
    from liveengine.server.fifo import FifoWriter
    from liveengine.server.layout import Layout, SharedState
    from liveengine.server.pool import SamplePool

    options = EngineOptions(voices=VOICES, master_gain=0.5)
    state = SharedState.create(Layout(fifo_capacity=options.queue_capacity, slots=128, slot_frames=48000,
                                      record_frames=4096, channels=options.channels, timing_history=4096))
    core = RealtimeCore(options, state)
    pool, fifo = SamplePool(state), FifoWriter(state)
    rng = np.random.default_rng(0)
    pooled = []
    for _ in range(64):
        samples = (0.1 * rng.standard_normal(48000)).astype(np.float32)
        envelope = np.abs(samples[: 48000 // ENVELOPE_HOP * ENVELOPE_HOP]).reshape(-1, ENVELOPE_HOP).max(axis=1)
        pooled.append(pool.adopt(PlayableBuffer(samples, envelope, 0, float(envelope.max()))))

    def hit(i: int) -> None:
        p = pooled[i % 64]
        fifo.put((ASAP, p.slot_gen, START, p.slot, 0.8, -1, i % 64, 0, 0.0, 0, 0))

    return core, hit, pooled  # the pooled buffers stay referenced: their slots stay theirs


def time_core(core, hit, blocks: int) -> np.ndarray:
    out = np.zeros((FRAMES, core.options.channels), np.float32)
    times = np.empty(blocks)
    for b in range(blocks):
        if b % 4 == 0:
            hit(b)
            hit(b + 1)
        began = time.perf_counter()
        core.process(out, FRAMES, core.frame / 48000)
        times[b] = time.perf_counter() - began
    return times


def time_baseline(blocks: int) -> np.ndarray:
    rng = np.random.default_rng(1)
    sounds = [(0.1 * rng.standard_normal(48000)).astype(np.float32) for _ in range(VOICES)]
    rows, gains, summed = np.zeros((VOICES, FRAMES), np.float32), np.full(VOICES, 0.8, np.float32), np.zeros(FRAMES, np.float32)
    times = np.empty(blocks)
    for b in range(blocks):
        began = time.perf_counter()
        p = (b * FRAMES) % (48000 - FRAMES)
        for k in range(VOICES):
            rows[k] = sounds[k][p : p + FRAMES]
        np.dot(gains, rows, out=summed)
        times[b] = time.perf_counter() - began
    return times


def atomic_calls(repeats: int = 100_000) -> dict:
    from liveengine.server.shm import Segment

    segment = Segment.create("bench-atomic", 4096)
    word = segment.atomic(0)
    package = word._word
    result = {"fast_path": word.fast}
    for name, call in (("store", lambda: word.store(7)), ("load", word.load),
                       ("package_store", lambda: package.store(7)), ("package_load", package.load)):
        result[f"{name}_us"] = round(timeit.timeit(call, number=repeats) / repeats * 1e6, 3)
    word.close()
    segment.close()
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--blocks", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    core, hit, _keep = make_core()
    time_core(core, hit, 2000)  # warm-up: every voice slot in use, the heap and lists at their size
    engine, baseline = [], []
    for _ in range(args.rounds):
        engine.append(time_core(core, hit, args.blocks))
        baseline.append(time_baseline(args.blocks))
    engine_us, baseline_us = np.concatenate(engine) * 1e6, np.concatenate(baseline) * 1e6
    figures = {name: {"median_us": round(float(np.median(t)), 1), "p99_us": round(float(np.percentile(t, 99)), 1)}
               for name, t in (("callback", engine_us), ("bare_mix_32", baseline_us))}
    results = {"date": time.strftime("%Y-%m-%d %H:%M"), "blocks": args.blocks * args.rounds, "frames": FRAMES,
               "voices_sounding": len(core.voices.sounding), **figures,
               "ratio_median": round(figures["callback"]["median_us"] / figures["bare_mix_32"]["median_us"], 2),
               "period_share_median": round(float(np.median(engine_us)) / (FRAMES / 48000 * 1e6), 4),
               "atomic_words": atomic_calls()}
    (HERE / "results_callback_cost.json").write_text(json.dumps(results, indent=1) + "\n")
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    from liveengine.job_lock import run_exclusively

    sys.exit(run_exclusively("the callback cost benchmark (bench/callback_cost.py)", main))
