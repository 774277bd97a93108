"""Grooves with Live: how close the groove's bar lines are to MIDI clock's and to Live's transport, how fast a
tempo change is followed, and how late MIDI out leaves.

    python bench/groove_sync.py [--bars 16]

All on a JACK dummy server (48 kHz, 128-frame periods, --no-realtime) on this shared 2-core machine, the
engine's audio server on it as a native JACK client, the groove at humanise 0 and swing 0 (every bar line
a hit on its step's frame):

- MIDI clock, server path: a stand-in sender (a JACK client of this process) writes 24 ticks a beat at
  exact JACK frames into the audio server's MIDI input; --bars bars at 240 BPM, then 4 bars at 200 BPM.
  Error = the groove's bar-line hit frame - the bar's first tick's frame (both engine frames: the server
  stamps each tick with its frame). Counted from bar 3 (after 2 bars of lock). Follow time: from the
  change's first tick to the first beat from which every beat line is within 1 ms.
- MIDI clock, rtmidi path: the same sender read by rtmidi as a controller (ticks stamped when the
  control thread polls them: up to a period and the poll late). Truth: the same ticks, also read by the
  audio server's JACK MIDI input, which stamps each with its exact engine frame.
- /transport: a stand-in for the Max device sends Live's timeline (beat = (t - t0) x BPM / 60) every
  20 ms over UDP, as timetagged bundles 5 ms ahead, then as plain messages (what the Max device sends).
  Truth: the bar's Unix time through the engine's clock ring, fitted over its last 16 blocks.
- MIDI out: the groove at 240 BPM with output "midi" through the server's JACK MIDI output (a capture
  client's frames against the scheduled frames, one constant removed), and through rtmidi's virtual port
  (how late each send call left; and when each reached the capture client against a copy of the same
  note written by the server's JACK MIDI output on another channel, which lands on its exact frame).

Writes bench/results_groove_sync.json.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from liveengine.at_most import run_at_most  # noqa: E402
from liveengine.audio.spec import DeviceSpec  # noqa: E402
from liveengine.control.midi.input import MidiInput  # noqa: E402
from liveengine.control.midi.mapping import MidiSettings  # noqa: E402
from liveengine.control.osc.server import OscServer, build_bundle, build_message  # noqa: E402
from liveengine.engine import Engine  # noqa: E402
from liveengine.groove.pattern import VOICE_TO_NOTE  # noqa: E402
from liveengine.patch import load_patch  # noqa: E402
from liveengine.server.clock import Clock  # noqa: E402
from liveengine.testing.jack_rig import PERIOD, RATE, start_jackd  # noqa: E402
from liveengine.testing.midi_rig import MidiTester  # noqa: E402
from liveengine.testing.models import build_pattern_model  # noqa: E402

MS = RATE / 1000


def every_step_pattern():
    hits, velocities, offsets = (np.zeros((32, 9)) for _ in range(3))
    for step in range(32):
        hits[step, step % 9], velocities[step, step % 9] = 1, 0.8
    return hits, velocities, offsets


def make_patch(folder: Path, extra: str = "") -> Path:
    if not (folder / "beat").exists():
        build_pattern_model(folder / "beat", fixed=every_step_pattern())
    path = folder / f"groove{abs(hash(extra))}.toml"
    path.write_text('[model]\ndecoder = "builtin:testsynth"\n[grid]\nrows = 4\ncols = 4\n[audio]\nsamplerate = 48000\n'
                    'blocksize = 128\n[engine]\nmax_seconds = 0.05\nrender_in = "thread"\n'
                    f'[groove]\nmodel = "beat"\nbpm = 120\nrows = 1\ncols = 1\nswing = 0.0\nhumanise = 0.0\n{extra}\n')
    return path


def stats(values, unit_scale: float = 1.0) -> dict:
    a = np.abs(np.asarray(values, dtype=float)) * unit_scale
    if a.size == 0:
        return {"n": 0}
    return {"n": int(a.size), "median": round(float(np.median(a)), 4), "p99": round(float(np.percentile(a, 99)), 4),
            "max": round(float(a.max()), 4)}


def wait_jack(engine, seconds: float) -> None:
    began, wall = engine.now_frame(), time.monotonic()
    while engine.now_frame() - began < seconds * RATE and time.monotonic() - wall < 4 * seconds + 5:
        time.sleep(0.05)


def ticks_at(bpm: float, first: float, count: int) -> list[int]:
    return [int(round(first + i * RATE * 60 / (bpm * 24))) for i in range(count)]


def midi_clock(folder: Path, servername: str, bars: int, server_path: bool) -> dict:
    patch = load_patch(make_patch(folder, 'tempo_source = "midi-clock"'))
    engine = Engine(patch)
    sender = MidiTester(servername, client="clock-sender", port="clock", activate=False)
    midi = None
    try:
        assert engine.wait_rendered(timeout=60)
        midi = MidiInput(engine, MidiSettings.from_patch(patch), api="jack", server=server_path, virtual=False, report=lambda s: None)
        midi.prepare()
        sender.activate()
        engine.start(DeviceSpec.jack(RATE, PERIOD, 2, midi_in=True))
        if not server_path:  # the server stamps the same ticks with their exact frames: the truth (not followed)
            sender.client.connect(sender.out_name, "liveengine:midi_in_1")
        seen: list[tuple[int, int]] = []
        follow = engine.midi_clock
        engine.midi_clock = lambda status, d1, d2, frame: seen.append((status, frame)) or follow(status, d1, d2, frame)
        midi.start()
        time.sleep(0.6)  # the scan connects the sender
        groove = engine.groove
        groove.pad(0, 0, None, engine.now_frame())
        first = sender.frame_time() + RATE // 5
        steady = ticks_at(240.0, first, bars * 96)
        changed = ticks_at(200.0, steady[-1] + RATE * 60 / (240 * 24), 4 * 96)
        sender.send_many([(first - 100, bytes([0xFA]))] + [(f, bytes([0xF8])) for f in steady + changed])
        exact: list[int] = []
        deadline = time.monotonic() + 4 * (changed[-1] - sender.frame_time()) / RATE + 10
        while sender.pending() and time.monotonic() < deadline:
            time.sleep(0.05)
            if not server_path:
                exact += [e.frame for e in engine.input_events() if e.status == 0xF8]
        time.sleep(0.5)
        if not server_path:
            exact += [e.frame for e in engine.input_events() if e.status == 0xF8]
        events = list(groove.sequencer.events)
        truth = [f for s, f in seen if s == 0xF8] if server_path else exact
        assert len(truth) == len(steady) + len(changed), (len(truth), len(steady) + len(changed))

        def line_errors(lo: int, hi: int, every: int) -> dict[int, float]:
            out = {}
            for e in events:
                position = e.step * 6
                if lo <= position < hi and position % every == 0 and abs(e.frame - truth[position]) < 0.25 * RATE:
                    out[position] = e.frame - truth[position]
            return out

        bar_errors = list(line_errors(2 * 96, bars * 96, 96).values())
        after = line_errors(bars * 96, (bars + 4) * 96, 24)
        follow_ticks = None
        for position in sorted(after):
            if all(abs(err) <= MS for p, err in after.items() if p >= position):
                follow_ticks = position - bars * 96
                break
        clock = engine.tempo_sources.midi
        return {"path": "audio server (JACK MIDI in)" if server_path else "rtmidi (JACK)", "bars_measured": len(bar_errors),
                "bar_line_error_ms": stats(bar_errors, 1 / MS),
                "tempo_change_240_to_200": {"followed_after_ticks": follow_ticks,
                                            "followed_after_ms": None if follow_ticks is None else round(follow_ticks * 60000 / (200 * 24), 1),
                                            "bpm_estimate": round(clock.bpm, 4)},
                "ticks": clock.ticks, "flood": clock.flood, "changes_detected": clock.changes}
    finally:
        if midi is not None:
            midi.stop()
        run_at_most(engine.stop, 10.0)
        if midi is not None:
            midi.close()
        sender.close()


def transport(folder: Path, bars: int, timed: bool) -> dict:
    engine = Engine(load_patch(make_patch(folder, 'tempo_source = "transport"')))
    server = OscServer(engine, "127.0.0.1", 0, recordings_dir=folder)
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        assert engine.wait_rendered(timeout=60)
        engine.start(DeviceSpec.jack(RATE, PERIOD, 2))
        server.start()
        fitted = Clock(engine.shared, RATE, PERIOD, fit=True)
        bpm = 240.0
        wall_minus_perf = time.time() - time.perf_counter()
        t0 = time.time() + 0.3
        groove = engine.groove
        started = False
        truths: dict[int, float] = {}  # bar number -> engine frame of Live's bar line
        end = t0 + bars * 4 * 60 / bpm
        while time.time() < end:
            now = time.time()
            when = now + 0.005 if timed else now
            beat = (when - t0) * bpm / 60
            if timed:
                client.sendto(build_bundle(when, ("/transport", bpm, beat, 1)), server.address)
            else:
                client.sendto(build_message("/transport", bpm, beat, 1), server.address)
            if not started and engine.tempo_sources.transport.updates > 0:
                groove.pad(0, 0, None, engine.now_frame())
                started = True
            bar = int(beat // 4) + 1
            bar_time = t0 + bar * 4 * 60 / bpm
            if bar not in truths and bar_time - now < 0.05:  # close to it: the fitted clock's line, read now
                truths[bar] = fitted.frame_at(bar_time - wall_minus_perf)
            time.sleep(0.02)
        time.sleep(0.2)
        events = list(groove.sequencer.events)
        errors = []
        for bar, frame in truths.items():
            if bar < 3:
                continue
            near = [e.frame - frame for e in events if e.step % 16 == 0 and abs(e.frame - frame) < RATE // 8]
            if near:
                errors.append(near[0])
        t = engine.tempo_sources.transport
        status = engine.status()
        return {"messages": "timetagged bundles, 5 ms ahead" if timed else "plain messages (as the Max device sends)",
                "bars_measured": len(errors), "bar_line_error_ms": stats(errors, 1 / MS),
                "bar_line_error_signed_ms": [round(e / MS, 3) for e in errors], "updates": t.updates, "jumps": t.jumps,
                "callback_lateness_p99_ms": round(status["lateness_p99_ms"], 3), "xruns": status["xruns"]}
    finally:
        client.close()
        server.stop()
        run_at_most(engine.stop, 10.0)


class Tee:
    """Sends each message to rtmidi, and a copy on MIDI channel 9 (one below) to the server's JACK port."""

    def __init__(self, rtmidi, reference) -> None:
        self.rtmidi, self.reference = rtmidi, reference

    def send(self, frame: int, status: int, data1: int = 0, data2: int = 0) -> bool:
        self.reference.send(frame, status - 1, data1, data2)
        return self.rtmidi.send(frame, status, data1, data2)

    def close(self) -> None:
        self.rtmidi.close()


def midi_out(folder: Path, servername: str, seconds: float, server_path: bool) -> dict:
    engine = Engine(load_patch(make_patch(folder, 'output = "midi"\ngate_ms = 20')))
    capture = MidiTester(servername, client="drum-rack", port="notes", activate=False)
    try:
        assert engine.wait_rendered(timeout=60)
        if not server_path:
            engine.open_midi_out("jack")
        capture.activate()
        rtmidi, engine.midi_out = engine.midi_out, None  # kept out of start's swap to the server's port (which closes it)
        engine.start(DeviceSpec.jack(RATE, PERIOD, 2, midi_out=True))
        capture.client.connect("liveengine:midi_out_1", capture.in_name)
        if not server_path:  # every note to rtmidi, and a copy on channel 9 to the server's port: its exact frame
            reference = engine.midi_out
            capture.client.connect([p.name for p in capture.client.get_ports(is_midi=True, is_output=True)
                                    if p.name.endswith("liveengine out")][0], capture.in_name)
            engine.midi_out = Tee(rtmidi, reference)
        groove = engine.groove
        groove.set_param("tempo", 240.0)
        groove.pad(0, 0, engine.now_frame() + RATE // 10, engine.now_frame())
        wait_jack(engine, seconds)
        groove.sequencer.stop()
        time.sleep(0.3)
        gate = 20 * RATE // 1000
        expected = sorted([(e.frame, bytes([0x99, VOICE_TO_NOTE[e.voice], round(e.velocity * 127)])) for e in groove.sequencer.events] +
                          [(e.frame + gate, bytes([0x89, VOICE_TO_NOTE[e.voice], 0])) for e in groove.sequencer.events])
        got = list(capture.received)
        copies = {}
        if not server_path:
            copies = {}  # (status, note, velocity) -> arrival frames of the server's copies, in order
            for frame, data in got:
                if data[0] & 0x0F == 8:
                    copies.setdefault((data[0] | 1, data[1], data[2]), []).append(frame)
            got = [(f, d) for f, d in got if d[0] & 0x0F == 9]
        same = [d for _, d in got] == [d for _, d in expected[: len(got)]]
        result = {"path": "audio server's JACK MIDI output" if server_path else "rtmidi virtual port 'liveengine out' (JACK)",
                  "messages_expected": len(expected), "messages_received": len(got), "in_order_and_content_equal": same}
        if server_path:
            shift = got[0][0] - expected[0][0]
            result["frame_error_samples"] = stats([g - shift - e for (g, _), (e, _) in zip(got, expected)])
            result["late"] = engine.shared.counter("midi_out_late")
        else:
            result["send_lateness_ms"] = stats(rtmidi.lateness, 1000)
            late = []
            for frame, data in got:
                exact = copies.get((data[0], data[1], data[2]))
                if exact:
                    late.append(frame - exact.pop(0))
            result["arrival_after_its_frame_ms"] = stats(late, 1 / MS)
            result["arrival_after_its_frame_signed_median_ms"] = round(float(np.median(late)) / MS, 4) if late else None
        return result
    finally:
        run_at_most(capture.close, 5.0)  # its Python callback first: closing rtmidi's JACK client waits for a cycle
        run_at_most(engine.stop, 10.0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=16)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results_groove_sync.json")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="groove-sync-"))
    server = start_jackd("liveengine-sync-bench")
    os.environ["JACK_DEFAULT_SERVER"] = server.name
    os.environ["JACK_NO_START_SERVER"] = "1"
    results = {"date": time.strftime("%Y-%m-%d %H:%M"), "bars": args.bars, "machine": "shared 2-core VM, JACK dummy, --no-realtime"}
    try:
        results["midi_clock_server"] = midi_clock(folder, server.name, args.bars, server_path=True)
        results["midi_clock_rtmidi"] = midi_clock(folder, server.name, args.bars, server_path=False)
        results["transport_timed"] = transport(folder, args.bars, timed=True)
        results["transport_untimed"] = transport(folder, args.bars, timed=False)
        results["midi_out_server"] = midi_out(folder, server.name, args.bars, server_path=True)
        results["midi_out_rtmidi"] = midi_out(folder, server.name, args.bars, server_path=False)
    finally:
        run_at_most(server.stop, 10.0)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
