"""MIDI note to first audible frame through JACK (128 frames / 48 kHz), and xruns under a MIDI flood.

`bench_midi_latency(tmp, server, notes=200)` returns a dict (see its docstring); bench/run.py
calls it with its JACK server. Alone: `python bench/midi_latency.py [--notes N]` starts its own
dummy server and prints the dict as JSON.

`python bench/midi_latency.py --fixed [--notes N]` measures the audio server's path alone with one
fixed sound (`bench_fixed_sound`): the centre pad of a 9x9 grid over the drum model, whose latent point
zoom and rotation leave where it is, so the knob sweep of the performance load re-renders every other
pad but never changes this one's sound (it starts at full level on its first sample). Quiet, under the
performance load, and under the load with busy neighbours as bench/server_load.py makes them; writes
bench/results_midi_fixed.json, with what else ran on the machine meanwhile. `--rise` adds, rendered offline,
how far after its aligned transient each sound the load passes through reaches the capture's threshold:
the latency each note would show if the engine placed every transient exactly (rise_to_threshold).

A stand-in controller (liveengine/testing/midi_rig.py) writes each note-on at a known JACK
frame, at a random offset inside its cycle, into liveengine's rtmidi JACK input; a capture
client records the output; the in-graph latency of a note is its onset frame minus the frame
it was written at. rtmidi reads JACK MIDI once per cycle and liveengine polls it every
millisecond, so a note waits for the end of its cycle plus the poll; the engine then starts
it one block after arrival ("constant" timing) or in the next block ("lowest-latency").
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
from pathlib import Path

import numpy as np

RATE, PERIOD = 48000, 128


def _stats(frames: np.ndarray) -> dict:
    p1, p99 = np.percentile(frames, 1), np.percentile(frames, 99)
    f = {"median": float(np.median(frames)), "p1": float(p1), "p99": float(p99), "max": float(frames.max()), "min": float(frames.min())}
    return {"frames": f, "ms": {k: v / RATE * 1000 for k, v in f.items()}, "periods": {k: v / PERIOD for k, v in f.items()},
            "jitter_frames": float(p99 - p1), "jitter_ms": float((p99 - p1) / RATE * 1000)}


def _patch(tmp: Path, timing: str, size: int = 8) -> Path:
    path = tmp / f"midi-{timing}-{size}.toml"
    path.write_text(f'[grid]\nrows = {size}\ncols = {size}\n[audio]\ntiming = "{timing}"\n'
                    '[engine]\nmax_seconds = 0.05\nmaster_gain = 0.5\nrender_in = "thread"\n'
                    '[midi]\ninputs = ["LPMiniMK3"]\nvirtual = false\n')
    return path


FIXED_SIZE, FIXED_PAD = 9, (4, 4)  # the centre pad of a 9x9 grid: at the view plane's centre whatever zoom and rotation are


def _machine() -> dict:
    """What else ran: the load average and the busiest processes (the machine is shared)."""
    import subprocess

    top = subprocess.run(["ps", "-eo", "pcpu,nice,comm", "--sort=-pcpu"], capture_output=True, text=True).stdout.splitlines()[1:8]
    return {"loadavg": [round(x, 2) for x in os.getloadavg()], "busiest": [" ".join(line.split()) for line in top]}


def _wait(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not predicate():
        time.sleep(0.01)
    return predicate()


def _performance_load(engine, stop) -> None:
    """The audio-server issue's performance load beside the notes: 16ths at 120 BPM across the grid and
    `zoom` and `rotation` sweeping at 20 Hz (every move re-renders the grid)."""
    from liveengine.commands import make_command

    i = 0
    while not stop.wait(0.05):
        engine.submit(make_command("/param", ["zoom", 1.0 + 0.5 * ((i % 40) / 40)]))
        engine.submit(make_command("/param", ["rotation", float((i * 3) % 360)]))
        if i % 5 == 0:
            engine.submit(make_command("/pad", [(i // 5) % 8, (i // 5 * 3) % 8, 0.0]))  # silent: the capture hears the notes alone
        i += 1


def _timeline(capture) -> tuple[np.ndarray, int, np.ndarray]:
    """Stop the capture; (its first channel with every captured cycle at its JACK frame, the first frame,
    True where a cycle was missed)."""
    capture.stop(every_cycle=False)
    cycles = capture.cycles[: capture.count]
    first = int(cycles[0])
    length = int(cycles[-1]) - first + PERIOD
    audio = np.zeros(length, np.float32)
    missed = np.ones(length, bool)
    for i, cycle in enumerate(cycles):
        at = int(cycle) - first
        audio[at : at + PERIOD] = capture.data[i * PERIOD : (i + 1) * PERIOD, 0]
        missed[at : at + PERIOD] = False
    return audio, first, missed


def _one_mode(tmp: Path, server: str, notes: int, timing: str, flood_seconds: float, path: str = "rtmidi", load: bool = False,
              fixed: bool = False, neighbours: int = 0) -> dict:
    """path "rtmidi": liveengine's rtmidi JACK input, polled; "server": the audio server reads its own JACK
    MIDI input inside its callback (native JACK backend), each note at its frame. `fixed`: every note plays
    the one fixed sound (FIXED_PAD of a 9x9 grid); `neighbours`: busy processes at nice 10 beside it."""
    from liveengine.audio.spec import DeviceSpec
    from liveengine.control.midi.input import MidiInput
    from liveengine.control.midi.mapping import MidiSettings
    from liveengine.engine import Engine
    from liveengine.patch import load_patch
    from liveengine.testing.jack_rig import Capture, onsets
    from liveengine.testing.midi_rig import MidiTester

    import threading

    engine = Engine(load_patch(_patch(tmp, timing, FIXED_SIZE if fixed else 8)))
    engine.wait_rendered(timeout=120)
    pad = engine.instrument.setting.pad_index(*FIXED_PAD) if fixed else None
    sound_before = engine.instrument.cache.get(pad).samples.copy() if fixed else None
    # rtmidi's JACK clients before any Python JACK callback runs (see liveengine/control/midi/ports.py);
    # the stand-in controller's ports exist first, so liveengine makes a client for it.
    tester = MidiTester(server, activate=False)
    midi = MidiInput(engine, MidiSettings.from_patch(engine.instrument.patch), api="jack", server=path == "server")
    midi.prepare()
    tester.activate()
    if path == "server":
        engine.start(DeviceSpec.jack(RATE, PERIOD, 2, servername=server, midi_in=True))
    midi.start()
    capture = Capture(server, seconds=notes * 0.12 + flood_seconds + 10)
    stop = threading.Event()
    loader = threading.Thread(target=_performance_load, args=(engine, stop), daemon=True) if load else None
    busy = []
    try:
        if neighbours:
            from server_load import busy_neighbours

            busy = busy_neighbours(neighbours)
        if path != "server":
            # The audio server process plays (PortAudio's JACK host API, on the server JACK_DEFAULT_SERVER names).
            engine.start(DeviceSpec.portaudio("JACK", RATE, PERIOD, 2))
        if loader is not None:
            loader.start()
        output_latency = engine.server.output_latency
        capture.connect_from("liveengine")
        if not _wait(lambda: len(midi.devices) == 1, 5.0):
            return {"error": "the stand-in controller was not opened"}
        capture.start()
        time.sleep(0.5)
        rng = random.Random(7)
        written = []
        frame = tester.frame_time() + RATE // 10
        # Programmer mode on a Launchpad Mini MK3: pad (2, 3), or the fixed sound's pad (4, 4).
        note = bytes([0x90, 10 * (FIXED_PAD[0] + 1) + FIXED_PAD[1] + 1 if fixed else 34, 127])
        machine_before = _machine()
        generations_before = engine.instrument.cache.generation
        late_before = engine.shared.counter("late_commands")
        for _ in range(notes):
            frame += RATE // 10 + rng.randrange(PERIOD)  # a random place inside its cycle
            written.append(frame)
        tester.send_many((f, note) for f in written)
        written_all = list(written)
        _wait(lambda: tester.pending() == 0, notes * 0.12 + 10)
        time.sleep(0.3)
        if path == "server":
            # Under busy neighbours the capture client (a Python callback in this busy process) can miss a JACK cycle;
            # each captured cycle is placed at its own frame, and a note whose sound falls near a missed one is left out, counted.
            audio, first, missed = _timeline(capture)
            found = onsets(audio, min_gap=1200) + first
            kept, lost = [], 0
            for frame in written:
                if missed[max(frame - first - PERIOD, 0) : frame - first + 4 * PERIOD].any():
                    lost += 1
                else:
                    kept.append(frame)
            near = [found[(found >= frame) & (found < frame + 1200)] for frame in kept]
            later = [found[found >= frame] for frame, hits in zip(kept, near) if not len(hits)]
            unmatched = [int(hits[0] - frame) if len(hits) else None for frame, hits in
                         zip([f for f, h in zip(kept, near) if not len(h)], later)][:20]  # how far the next onset was
            written = [frame for frame, hits in zip(kept, near) if len(hits)]
            found = np.array([hits[0] for hits in near if len(hits)])
            notes_left_out = {"near_a_missed_capture_cycle": lost, "no_onset_found": len(kept) - len(written),
                              "capture_cycles_missed": int(missed[::PERIOD].sum()), "next_onset_of_the_first_20_unmatched": unmatched}
        else:
            audio, first = capture.stop()
            found = onsets(audio[:, 0], min_gap=1200) + first
        result: dict = {"timing": timing, "path": path, "load": load, "notes": notes, "reported_output_latency_ms": output_latency * 1000}
        if path == "server":
            result["notes_left_out"] = notes_left_out
            notes = len(written)
            result["notes_measured"] = notes
        if len(found) != notes:
            result["error"] = f"found {len(found)} onsets for {notes} notes"
        else:
            in_graph = found - np.array(written)
            result["in_graph"] = _stats(in_graph)
            result["total_median_ms"] = result["in_graph"]["ms"]["median"] + output_latency * 1000
            values, counts = np.unique(in_graph, return_counts=True)
            result["latency_counts"] = {int(v): int(n) for v, n in zip(values, counts)}
            offsets = np.array(written) % PERIOD
            result["offsets_in_period"] = {"min": int(offsets.min()), "max": int(offsets.max()), "distinct": int(len(set(offsets.tolist())))}
        # Each note where the stand-in meant it: JACK put it at the frame it was written for (else the spread is the rig's).
        meant = set(written_all)
        result["stand_in"] = {"written": len(tester.written), "where_meant": sum(1 for frame, _ in tester.written if frame in meant),
                              "write_errors": tester.write_errors, "still_pending": tester.pending()}
        result["events_dropped"] = engine.shared.counter("events_dropped")
        result["midi_messages_read_by_server"] = engine.shared.counter("midi_messages")
        result["midi_handled"] = midi.counters.handled
        result["xruns_during"] = engine.shared.counter("xruns")
        result["server_started"] = midi.counters.server_started
        result["late_commands"] = engine.shared.counter("late_commands") - late_before
        result["grid_generations_during"] = engine.instrument.cache.generation - generations_before  # re-renders the load started
        result["machine_before"], result["machine_after"] = machine_before, _machine()
        if fixed:
            result["fixed_pad"] = list(FIXED_PAD)
            result["sound_unchanged"] = bool(np.array_equal(engine.instrument.cache.get(pad).samples, sound_before))
            result["neighbours"] = neighbours
        if flood_seconds:
            result["flood"] = _flood(engine, midi, tester, flood_seconds)
        return result
    finally:
        stop.set()
        for process in busy:
            process.kill()
            process.wait()
        if loader is not None:
            loader.join()
        midi.stop()
        engine.stop()
        capture.close()
        tester.close()
        midi.close()


def _flood(engine, midi, tester, seconds: float) -> dict:
    """16,000 note-ons a second plus clock at 300 BPM: xruns, and what the MIDI thread dropped."""
    xruns = engine.shared.counter("xruns")
    queue_drops = engine.fifo.dropped
    before = (midi.counters.received, midi.counters.handled, midi.counters.flood_dropped)
    start = tester.frame_time() + PERIOD
    per_second = 16000
    events = []
    for i in range(int(per_second * seconds)):
        t = start + i * RATE // per_second
        events.append((t, bytes([0x90, 11 + 10 * (i % 8) + (i // 8) % 8, 1 + i % 127])))
        if i % (per_second // 120) == 0:
            events.append((t, b"\xf8"))
    tester.send_many(events)
    _wait(lambda: tester.pending() == 0, seconds + 10)
    time.sleep(0.5)
    c = midi.counters
    return {"seconds": seconds, "sent": len(events), "received": c.received - before[0], "handled": c.handled - before[1],
            "flood_dropped": c.flood_dropped - before[2], "engine_queue_drops": engine.fifo.dropped - queue_drops,
            "xruns": engine.shared.counter("xruns") - xruns, "tester_write_errors": tester.write_errors,
            "server_restarts": engine.server.restarts}


def bench_midi_latency(tmp: Path, server: str, notes: int = 200, flood_seconds: float = 3.0) -> dict:
    """MIDI note -> first audible frame through JACK at 128 frames / 48 kHz, per timing mode.

    Returns {"constant": {...}, "lowest-latency": {...}}, each with "in_graph" ({"frames",
    "ms", "periods"}: median, p1, p99, max, min; "jitter_frames"/"jitter_ms" = p99 - p1),
    "reported_output_latency_ms", "total_median_ms", "xruns_during", and for "constant" a
    "flood" entry (xruns and drops under 16,000 notes/s + clock). "server, constant" is the path `play`
    takes on the native JACK backend (the audio server reads MIDI in its callback), alone and beside the
    performance load (a knob sweep re-rendering the grid at 20 Hz, 16ths across the grid). Call it with no Python
    JACK client of this process running (rtmidi opens its clients first).
    """
    tmp.mkdir(parents=True, exist_ok=True)
    return {"constant": _one_mode(tmp, server, notes, "constant", flood_seconds),
            "lowest-latency": _one_mode(tmp, server, notes, "lowest-latency", 0.0),
            "server, constant": _one_mode(tmp, server, notes, "constant", 0.0, path="server"),
            "server, constant, performance load": _one_mode(tmp, server, notes, "constant", 0.0, path="server", load=True)}


def bench_fixed_sound(tmp: Path, server: str, notes: int = 200, neighbours: int = 2, only: str | None = None) -> dict:
    """The audio server's JACK MIDI path in `constant` timing with one fixed sound (see the module's docstring):
    quiet, beside the performance load, and beside the load with `neighbours` busy processes at nice 10."""
    tmp.mkdir(parents=True, exist_ok=True)
    modes = {"quiet": {"fixed": True}, "performance load": {"load": True, "fixed": True},
             f"performance load, {neighbours} busy neighbours": {"load": True, "fixed": True, "neighbours": neighbours},
             # The control: bench/run.py's setting, pad (2, 3) of an 8x8 grid, whose sound the knob sweep changes all the time.
             "performance load, the pad's sound changing": {"load": True}}
    return {label: _one_mode(tmp, server, notes, "constant", 0.0, path="server", **kwargs)
            for label, kwargs in modes.items() if only is None or label.startswith(only)}


def rise_to_threshold(tmp: Path, settings: int = 120) -> dict:
    """Why a changing sound spreads the measured latency: for each knob setting the performance load passes
    through, how many frames after its aligned transient (the first sample above -60 dBFS, which the engine
    puts on the note's frame + one period) each sound first reaches the capture's onset threshold (1e-3 at
    the output: the patch's master gain 0.5 halves it). Rendered offline, no JACK; the prediction of each
    note's latency is one period plus that."""
    from liveengine.commands import make_command
    from liveengine.engine import Engine
    from liveengine.patch import load_patch

    tmp.mkdir(parents=True, exist_ok=True)
    out = {}
    for label, size, pad in (("fixed sound, pad (4, 4) of 9x9", FIXED_SIZE, FIXED_PAD), ("changing sound, pad (2, 3) of 8x8", 8, (2, 3))):
        engine = Engine(load_patch(_patch(tmp, "constant", size)))
        try:
            engine.wait_rendered(timeout=120)
            gain = engine.options.master_gain  # velocity 127 at curve 1.6: gain 1
            frames: dict[int, int] = {}
            for i in range(settings):  # the settings _performance_load sweeps through, in its order
                engine.submit(make_command("/param", ["zoom", 1.0 + 0.5 * ((i % 40) / 40)]))
                engine.submit(make_command("/param", ["rotation", float((i * 3) % 360)]))
                engine.wait_rendered(timeout=60)
                sound = engine.instrument.cache.get(engine.instrument.setting.pad_index(*pad))
                k = int(np.flatnonzero(np.abs(gain * sound.samples) > 1e-3)[0]) - sound.onset
                frames[PERIOD + k] = frames.get(PERIOD + k, 0) + 1
            out[label] = {"predicted_latency_counts": dict(sorted(frames.items())), "settings": settings}
        finally:
            engine.stop()
    return out


def main() -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--notes", type=int, default=200)
    parser.add_argument("--fixed", action="store_true", help="the audio server's path with one fixed sound (bench_fixed_sound)")
    parser.add_argument("--realtime", action="store_true", help="with --fixed: jackd -R (SCHED_FIFO), as bench/server_load.py's busy-neighbour runs")
    parser.add_argument("--rise", action="store_true", help="only rise_to_threshold (offline), into bench/results_midi_fixed.json")
    parser.add_argument("--only", help="with --fixed: only the settings whose label starts with this ('quiet', 'performance load, 2')")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    sys.path.insert(0, str(Path(__file__).resolve().parent))  # server_load's busy neighbours
    from liveengine.testing.jack_rig import start_jackd

    if args.rise:
        path = Path(__file__).resolve().parent / "results_midi_fixed.json"
        kept = json.loads(path.read_text()) if path.exists() else {}
        kept["rise_to_threshold"] = rise_to_threshold(Path(__file__).resolve().parent / "_work")
        path.write_text(json.dumps(kept, indent=1) + "\n")
        print(json.dumps(kept["rise_to_threshold"], indent=1))
        return 0
    name = f"liveengine-midibench-{os.getpid()}"
    server = start_jackd(name, realtime=args.realtime)
    os.environ["JACK_DEFAULT_SERVER"] = name  # inherited by the audio server processes: PortAudio loads only there
    os.environ["JACK_NO_START_SERVER"] = "1"
    work = Path(__file__).resolve().parent / "_work"
    try:
        result = bench_fixed_sound(work, name, args.notes, only=args.only) if args.fixed else bench_midi_latency(work, name, args.notes)
    finally:
        server.stop()  # each engine, and so its audio server process, was stopped before
    if args.fixed:
        import datetime
        import platform

        kind = "realtime" if args.realtime else "non-realtime"
        result = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                  "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
                  "jack": f"jackd {'-R -P 70' if args.realtime else '--no-realtime'} -S -d dummy -r {RATE} -p {PERIOD}", **result}
        if args.only is None:  # one file, a key per JACK server kind
            path = Path(__file__).resolve().parent / "results_midi_fixed.json"
            kept = json.loads(path.read_text()) if path.exists() else {}
            kept[kind] = result
            path.write_text(json.dumps(kept, indent=1) + "\n")
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from liveengine.job_lock import run_exclusively  # never beside a training run: each skews the other

    sys.exit(run_exclusively("the MIDI benchmark (bench/midi_latency.py)", main))
