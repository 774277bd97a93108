"""A groove played through JACK for minutes: is every onset where the tempo map puts it, with no drift?

    python bench/groove_jack.py [--seconds 600] [--sweep-hz 20]

JACK dummy driver (48 kHz, 128-frame periods, --no-realtime), the engine's audio server process
on it, and a capture client of this process recording the engine's first output port with each
JACK cycle's frame time. The sound grid is builtin:testsynth (4x4, sounds cut to 50 ms, master
gain 1, velocity curve 1), played by a groove at 120 BPM from a pattern model that decodes to one
fixed pattern (one voice a step, offsets within 0.15 of a step, swing 0.1), so every hit is alone
and its onset is known: the first sample above -60 dBFS x its velocity (the transient, as the
renderer defines it). The load: the sound grid's zoom and rotation swept at --sweep-hz (every pad
re-rendered each move, as in bench/server_load.py); no busy neighbour processes (the machine is
shared). Each hit's error = heard onset - (computed frame + the first hit's latency), in samples,
over the whole run; drift = the mean error over the last minute minus the first. Writes
bench/results_groove_jack.json.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from liveengine.audio.spec import DeviceSpec  # noqa: E402
from liveengine.at_most import run_at_most  # noqa: E402
from liveengine.commands import make_command  # noqa: E402
from liveengine.engine import Engine  # noqa: E402
from liveengine.patch import load_patch  # noqa: E402
from liveengine.render.buffers import ONSET_THRESHOLD  # noqa: E402
from liveengine.testing.jack_rig import PERIOD, RATE, Capture, start_jackd  # noqa: E402
from liveengine.testing.models import build_pattern_model  # noqa: E402

STEP = RATE * 60 // (120 * 4)


def fixed_pattern(seed: int = 3):
    rng = np.random.default_rng(seed)
    hits, velocities, offsets = (np.zeros((32, 9)) for _ in range(3))
    for step in range(32):
        voice = step % 9
        hits[step, voice], velocities[step, voice] = 1, rng.uniform(0.5, 1.0)
        offsets[step, voice] = 0.0 if step == 0 else rng.uniform(-0.15, 0.15)
    return hits, velocities, offsets


def run(seconds: float, sweep_hz: float) -> dict:
    folder = Path(tempfile.mkdtemp(prefix="groove-jack-"))
    build_pattern_model(folder / "beat", fixed=fixed_pattern())
    (folder / "groove.toml").write_text(
        '[model]\ndecoder = "builtin:testsynth"\n[grid]\nrows = 4\ncols = 4\n[audio]\nsamplerate = 48000\nblocksize = 128\n'
        '[engine]\nmax_seconds = 0.05\nmaster_gain = 1.0\nvelocity_curve = 1.0\n'
        '[groove]\nmodel = "beat"\nbpm = 120\nrows = 1\ncols = 1\nswing = 0.1\nhumanise = 1.0\ndynamics = 1.0\n')
    server = start_jackd("liveengine-groove-bench")
    os.environ["JACK_DEFAULT_SERVER"] = server.name
    os.environ["JACK_NO_START_SERVER"] = "1"
    patch = load_patch(folder / "groove.toml")
    options = patch.options()
    engine = Engine(patch, options)
    capture = Capture(server.name, channels=1, seconds=seconds + 5)
    stop = threading.Event()
    moves = [0]

    def sweep() -> None:
        t0 = time.monotonic()
        while not stop.wait(1.0 / sweep_hz):
            t = time.monotonic() - t0
            engine.submit(make_command("/param", ["zoom", 1.0 + 0.5 * math.sin(t)]))
            engine.submit(make_command("/param", ["rotation", 30.0 * math.sin(0.7 * t)]))
            moves[0] += 1

    try:
        assert engine.wait_rendered(timeout=60)
        engine.start(DeviceSpec.portaudio("JACK", options.samplerate, options.blocksize, options.channels))
        capture.connect_from("liveengine")
        capture.start()
        time.sleep(0.5)
        groove = engine.groove
        groove.pad(0, 0, engine.now_frame() + RATE // 5, engine.now_frame())
        sweeper = threading.Thread(target=sweep, daemon=True)
        if sweep_hz > 0:
            sweeper.start()
        # Run for `seconds` of JACK time: on a loaded machine the dummy driver's cycles fall behind the wall clock.
        began, wall = engine.now_frame(), time.monotonic()
        while engine.now_frame() - began < seconds * RATE and time.monotonic() - wall < 4 * seconds:
            time.sleep(0.5)
        jack_seconds, wall_seconds = (engine.now_frame() - began) / RATE, time.monotonic() - wall
        stop.set()
        groove.sequencer.stop()
        time.sleep(0.5)
        status = engine.status()
        reports = list(engine.reports)[-20:]
        sequencer_state = {"running": groove.sequencer.running, "next_step": groove.sequencer.next_step,
                           "feeder_alive": groove._feeder is not None and groove._feeder.is_alive(), "now_frame": engine.now_frame()}
        cycles = capture.cycles[: capture.count].astype(np.int64)
        audio, _ = capture.stop(every_cycle=False)
        events = list(groove.sequencer.events)
    finally:
        # jack_client_close can block for minutes (seen here once after a 10-minute run): each close
        # gets a limit, and what it holds goes with the process.
        stop.set()
        run_at_most(engine.stop, 10.0)
        run_at_most(capture.close, 5.0)
        run_at_most(server.stop, 10.0)

    mono = audio[:, 0].astype(np.float64)
    # Data index of a JACK frame: through the cycle it fell in (a cycle the capture missed has no data).
    def index_of(jack_frame: int) -> int | None:
        k = int(np.searchsorted(cycles, jack_frame, side="right")) - 1
        if k < 0 or jack_frame - cycles[k] >= PERIOD:
            return None
        return k * PERIOD + int(jack_frame - cycles[k])

    def heard(approx_index: int, velocity: float) -> int | None:
        window = mono[max(0, approx_index - 400): approx_index + 400]
        loud = np.flatnonzero(np.abs(window) > ONSET_THRESHOLD * velocity * 0.999)
        return None if loud.size == 0 else max(0, approx_index - 400) + int(loud[0])

    first = events[0]
    loud = np.flatnonzero(np.abs(mono) > ONSET_THRESHOLD * first.velocity * 0.999)
    shift = int(cycles[loud[0] // PERIOD] + loud[0] % PERIOD) - first.frame  # engine frame -> JACK frame, from the first hit
    errors, times, unplaced = [], [], 0
    for event in events:
        index = index_of(event.frame + shift)
        found = None if index is None else heard(index, event.velocity)
        if found is None:
            unplaced += 1
            continue
        errors.append(found - index)
        times.append((event.frame - first.frame) / RATE)
    errors, times = np.array(errors), np.array(times)
    first_minute, last_minute = errors[times < 60], errors[times >= times.max() - 60]
    gaps = np.diff(cycles)
    return {"date": time.strftime("%Y-%m-%d"), "seconds": seconds, "jack_seconds": round(jack_seconds, 1),
            "wall_seconds": round(wall_seconds, 1), "bpm": 120, "sweep_hz": sweep_hz, "knob_moves": moves[0],
            "hits_scheduled": len(events), "hits_measured": int(len(errors)), "hits_unplaced": unplaced,
            "error_samples": {"min": int(errors.min()), "max": int(errors.max()),
                              "within_1_sample": float(np.mean(np.abs(errors) <= 1)),
                              "histogram": {str(k): int(v) for k, v in zip(*np.unique(errors, return_counts=True))}},
            "drift_samples_last_minus_first_minute": float(last_minute.mean() - first_minute.mean()),
            "capture_missed_cycles": int(np.sum(gaps[gaps != PERIOD] // PERIOD - 1)) if len(gaps) else 0,
            "reports": reports, "sequencer": sequencer_state,
            "engine": {k: status.get(k) for k in ("xruns", "late_commands", "queue_drops", "schedule_full", "server_restarts",
                                                   "groove_late_bars", "groove_dropped", "render_failures")}}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A groove through JACK: onsets against the tempo map, drift.")
    parser.add_argument("--seconds", type=float, default=600.0, help="of JACK time (at most 4x as long on the wall clock)")
    parser.add_argument("--sweep-hz", type=float, default=20.0)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results_groove_jack.json")
    args = parser.parse_args(argv)
    results = run(args.seconds, args.sweep_hz)
    args.out.write_text(json.dumps(results, indent=1) + "\n")
    print(json.dumps(results, indent=1), flush=True)
    os._exit(0)  # a JACK client thread left hanging by a close must not keep the process alive


if __name__ == "__main__":
    main()
