"""Timbre transfer's added latency through JACK, compute per frame, and a long offline run.

    python bench/stream_latency.py [--seconds 20] [--offline-minutes 10] [--parts latency,offline]

Latency: the default patch (the drum grid) with a [stream] on the audio input, through the audio
server process on JACK (dummy driver, 48 kHz, 128-frame periods, synchronous, real-time `-R` where
allowed). A JACK client plays 200 ms tone bursts (a 262 Hz sine at 0.5, each burst starting anywhere
in a period) into the server's `in_1`, every 0.5 s; a capture client records the engine's output and,
on a second port, the tone itself straight from the source: the dry pass through the same JACK
server. Added latency = the re-voiced onset minus the dry onset (first sample above 5e-3), per burst:
median, p99, jitter (p99 - p1). Two settings: quiet, and the performance load of
bench/server_load.py (16ths across the grid, zoom and rotation swept at 20 Hz, two busy processes at
nice 10 beside it; the hits at velocity 0.01, so the grid's voices, renders and mixing are all there
but stay under the onset threshold). Xruns counted by a JACK client and by the audio server itself, each set beside the machine's own stalls
(cyclictest, as in bench/server_load.py: `xruns_near_rig_stall`, `rig_window_share` the chance level); after each
setting the control, a bare Python client mixing 32 voices on the same server beside the same neighbours, measured
the same way (`control`): its xruns are the rig's floor. The stream voice's bridges (a block the producer was late
with, played through on its continuation), fades (late twice running) and, of each, those in a block entered under
half a period after the last (`_hurried`), and underruns; the output's largest sample-to-sample step over the
bursts against its 99.99th percentile (a click would stand out); the producer's trims, its
compute per 5 ms frame (model plus synthesis; wall and CPU time), its answer time (new input read to its frames
written) and how late its waits came back, from its own timings; the producer process's CPU (cores) and the
machine's steal time over the bursts.

`--backend portaudio`: the audio server on PortAudio's JACK host API instead (sounddevice, a duplex stream whose first
input is the stream's input, as `[stream] input` from a device), the same JACK server, bursts and measure.

Notes: after the bursts, 20 `/stream/note`s submitted in the same run (the pad voice): the note's
onset (first sample above 5e-3) minus the JACK frame at the moment it was submitted.

Offline: `--offline-minutes` of the pad voice (a note every 0.5 s, z swept round the pad) and audio
input (a gliding tone) in turns, through the producer and the real-time core in this process: NaN
count, the same note played from the zero state (after a panic) at the start and at the end, aligned
at its onset: its largest sample difference, level and pitch (drift: anything the run accumulates
besides the model's state, such as the synth's phase or the noise position), this process's resident
memory at each minute (bounded).

The model: models_onnx/voices when it is there, else a generated GRU of the shipped size (64
harmonics, 16 bands, 192 state) with random weights (compute and latency do not depend on the
weights). Writes bench/results_stream.json; docs/benchmarks.md summarises it.

Peers (published, not measured here): DDSP-VST 64 ms fixed latency (v1.1; about 100 ms unreported
before), nn~ (RAVE in Max/Pd) buffers of 2048 to 4096 samples: 43 to 85 ms at 48 kHz.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))
RATE, PERIOD = 48000, 128
BURST_SECONDS, EVERY_SECONDS = 0.2, 0.5
ONSET = 5e-3  # the re-voiced and the dry onsets: the first sample above this
GRID_VELOCITY = 0.01  # the load's pad hits: velocity^1.6 x a drum's peak stays under ONSET even with four overlapping
PEERS = {"DDSP-VST (v1.1, published)": 64.0, "nn~ 2048-sample buffer at 48 kHz": 2048 / 48, "nn~ 4096-sample buffer at 48 kHz": 4096 / 48}


def voice_patch_model() -> str:
    """The stream model patches/voice.toml plays: the one measured."""
    from liveengine.patch import load_patch

    return load_patch(ROOT / "patches" / "voice.toml").stream["model"]


def model_folder(scratch: Path) -> tuple[Path, str]:
    name = voice_patch_model()
    shipped = ROOT / "models_onnx" / name
    if (shipped / "decoder.onnx").is_file():
        return shipped, f"models_onnx/{name}"
    from liveengine.testing.models import build_stream_model, stream_metadata

    meta = stream_metadata(harmonics=64, noise_bands=16, state_size=192, sample_rate=16000,
                           band_edges_hz=[0.0, 150.0, 300.0, 450.0, 650.0, 850.0, 1100.0, 1400.0, 1750.0, 2150.0, 2650.0, 3250.0,
                                          4000.0, 4850.0, 5850.0, 6900.0, 8000.0], loudness_range_db=[-100.0, 0.0])
    return build_stream_model(scratch / "voice", harmonics=64, noise_bands=16, state_size=192, metadata=meta), \
        "generated GRU of the shipped size (64 harmonics, 16 bands, state 192; random weights)"


class Bursts:
    """A JACK client playing tone bursts into the server's input, and a dry copy on a second port."""

    def __init__(self, server: str, seconds: float, seed: int = 0) -> None:
        import jack

        rng = np.random.default_rng(seed)
        self.length = int((seconds + 1.0) * RATE)
        self.signal = np.zeros(self.length, np.float32)
        burst = int(BURST_SECONDS * RATE)
        t = np.arange(burst) / RATE
        self.starts = []
        at = RATE // 2
        while at + burst < self.length - RATE // 2:
            start = at + int(rng.integers(0, PERIOD))
            self.signal[start : start + burst] = 0.5 * np.sin(2 * np.pi * 262.0 * t)
            self.starts.append(start)
            at += int(EVERY_SECONDS * RATE)
        self.client = jack.Client("bench-bursts", no_start_server=True, servername=server)
        self.port = self.client.outports.register("out")
        self.start = 1 << 62
        self.client.set_process_callback(self._process)
        self.client.activate()

    def _process(self, frames: int) -> None:
        out = self.port.get_array()
        at = self.client.last_frame_time - self.start
        out.fill(0.0)
        if 0 <= at + frames and at < self.length:
            lo, hi = max(at, 0), min(at + frames, self.length)
            out[lo - at : hi - at] = self.signal[lo:hi]

    def close(self) -> None:
        self.client.deactivate()
        self.client.close()


def latency_run(server: str, folder: Path, seconds: float, load: bool, slack: float, backend: str = "jack") -> dict:
    from liveengine.audio.spec import DeviceSpec
    from liveengine.commands import make_command
    from liveengine.engine import Engine
    from liveengine.patch import load_patch
    from server_load import RigFloor, XrunCounter

    with tempfile.TemporaryDirectory() as scratch:
        patch_path = Path(scratch) / "stream.toml"
        patch_path.write_text((ROOT / "patches" / "default.toml").read_text()
                              + f'\n[stream]\nmodel = "{folder}"\ninput = "audio"\nmix = 1.0\ngain = 1.0\nslack_blocks = {slack}\n')
        engine = Engine(load_patch(patch_path))
    engine.wait_rendered(timeout=120)
    if backend == "portaudio":  # PortAudio's JACK host API: a duplex stream, the device's first input as the stream's input
        engine.start(DeviceSpec.portaudio("JACK", RATE, PERIOD, 2, audio_in=True))
    else:
        engine.start(DeviceSpec.jack(RATE, PERIOD, 2, servername=server, audio_in=True))
    rig = RigProcess(server, seconds)  # the burst player and the capture, in a process of their own
    counter = XrunCounter(server)
    stop = threading.Event()

    def play() -> None:  # 16ths at 120 BPM across the grid, quiet enough to stay under the onset threshold (the same work)
        i = 0
        while not stop.wait(0.125):
            engine.submit(make_command("/pad", [i % 8, (i * 3) % 8, GRID_VELOCITY]))
            i += 1

    def sweep() -> None:  # zoom and rotation at 20 Hz
        i = 0
        while not stop.wait(0.05):
            engine.submit(make_command("/param", ["zoom", 1.0 + 0.5 * ((i % 40) / 40)]))
            engine.submit(make_command("/param", ["rotation", float((i * 3) % 360)]))
            i += 1

    threads = [threading.Thread(target=play), threading.Thread(target=sweep)] if load else []
    try:
        deadline = time.monotonic() + 60
        while engine.stream.counts.get("frames", 0) == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        for t in threads:
            t.start()
        time.sleep(2.0)
        xruns_before, status_before, server_xruns_before = counter.count, engine.status(), engine.shared.counter("xruns")
        producer_pid = engine.stream.pid
        cpu_before, wall_before, steal_before = process_cpu_seconds(producer_pid), time.monotonic(), steal_ticks()
        floor = RigFloor(seconds + 1.5)  # the machine's own stalls over the bursts
        audio, burst_count = rig.bursts()
        steal_after = steal_ticks()
        xruns = counter.count - xruns_before
        server_xruns = engine.shared.counter("xruns") - server_xruns_before  # the server's own, each timed in its ring
        ring = engine.shared.xrun_times
        server_times = [float(ring[i % len(ring)]) for i in range(server_xruns_before + max(0, server_xruns - len(ring)),
                                                                  server_xruns_before + server_xruns)]
        stalls = floor.close(counter.times[xruns_before:], server_times)
        producer_cores = (process_cpu_seconds(producer_pid) - cpu_before) / (time.monotonic() - wall_before)
        time.sleep(0.6)  # the producer's stats after the last burst
        status = engine.status()
        description = engine.server.description
        notes = note_latencies(engine, rig)
    finally:
        stop.set()
        for t in threads:
            t.join()
        counter.close()
        rig.close()
        engine.stop()
    from liveengine.testing.jack_rig import onsets

    wet, dry = audio[:, 0], audio[:, 1]
    added = []
    for d in onsets(dry, ONSET, min_gap=RATE // 10):  # each burst as the capture heard it (its cycles may slip under load)
        w = np.flatnonzero(np.abs(wet[d : d + RATE // 10]) > ONSET)
        if len(w):
            added.append(w[0] / RATE * 1000.0)
    added = np.array(added)
    steps = wet_steps(wet)
    counts = {k: status[k] - status_before.get(k, 0) for k in ("stream_fades", "stream_fades_hurried", "stream_bridges", "stream_bridges_hurried",
                                                               "stream_underruns", "stream_trims", "stream_trimmed", "stream_padded",
                                                               "stream_onsets", "stream_nan_frames")}
    return {"bursts": burst_count, "measured": int(len(added)),
            "added_ms_median": round(float(np.median(added)), 2) if len(added) else None,
            "added_ms_p99": round(float(np.percentile(added, 99)), 2) if len(added) else None,
            "added_ms_jitter": round(float(np.percentile(added, 99) - np.percentile(added, 1)), 2) if len(added) else None,
            "added_ms_max": round(float(added.max()), 2) if len(added) else None,
            "xruns_jack": xruns, "xruns_server": server_xruns, **stalls, **counts, **steps,
            "compute_ms_per_frame_median": status.get("stream_compute_ms_median"), "compute_ms_per_frame_p99": status.get("stream_compute_ms_p99"),
            "compute_cpu_ms_per_frame_median": status.get("stream_compute_cpu_ms_median"),
            "compute_cpu_ms_per_frame_p99": status.get("stream_compute_cpu_ms_p99"),
            "answer_ms_median": status.get("stream_answer_ms_median"), "answer_ms_p99": status.get("stream_answer_ms_p99"),
            "answer_ms_max": status.get("stream_answer_ms_max"),
            "overslept_ms_p99": status.get("stream_overslept_ms_p99"), "overslept_ms_max": status.get("stream_overslept_ms_max"),
            "headroom_min": status.get("stream_headroom_min"), "headroom_p1": status.get("stream_headroom_p1"),
            "producer_cpu_cores": round(producer_cores, 3),
            # the share of the machine's CPU time its hypervisor gave to others (the guest's vCPUs held but not running)
            "steal_percent": round(100.0 * (steal_after[0] - steal_before[0]) / max(steal_after[1] - steal_before[1], 1), 2),
            "server_nice": status["server_nice"], "producer_priority": status.get("stream_priority"), "lead_frames": status.get("stream_lead"),
            "load": load, "slack_blocks": slack, "backend": backend, "server_description": description,
            "note_ms_median": round(float(np.median(notes)), 2) if len(notes) else None,
            "note_ms_p99": round(float(np.percentile(notes, 99)), 2) if len(notes) else None, "notes_measured": int(len(notes))}


def wet_steps(wet: np.ndarray) -> dict:
    """The largest sample-to-sample step of the engine's output over the bursts, and its 99.99th percentile: a click
    (a bridge, fade or trim with a step in it) would stand far above the voice's own steepest slopes."""
    step = np.abs(np.diff(wet.astype(np.float64)))
    return {"wet_step_max": round(float(step.max()), 4), "wet_step_p9999": round(float(np.percentile(step, 99.99)), 4)}


class RigProcess:
    """The measuring JACK clients (burst player, capture) in a child process with no other thread: their
    callbacks never wait for an interpreter lock the engine's control threads hold (they would be xruns
    of a synchronous graph, counted against the engine). perf_counter is CLOCK_MONOTONIC on Linux, the
    same in both processes, so moments taken here map to JACK frames there."""

    def __init__(self, server: str, seconds: float) -> None:
        self.child = subprocess.Popen([sys.executable, __file__, "--rig", server, "--seconds", str(seconds)],
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self._answer() == "ready"

    def _answer(self):
        line = self.child.stdout.readline()
        if not line:
            raise RuntimeError("the measuring clients' process exited")
        return json.loads(line)

    def _ask(self, *request):
        self.child.stdin.write(json.dumps(list(request)) + "\n")
        self.child.stdin.flush()
        return self._answer()

    def bursts(self) -> tuple[np.ndarray, int]:
        answer = self._ask("bursts")
        return np.load(answer["path"]), answer["bursts"]

    def start(self) -> None:
        self._ask("record")

    def stop(self, moments: list[float]) -> tuple[np.ndarray, int, np.ndarray]:
        answer = self._ask("stop", moments)
        return np.load(answer["path"]), answer["first"], np.array(answer["frames"])

    def close(self) -> None:
        try:
            self._ask("quit")
        except (RuntimeError, BrokenPipeError, ValueError):
            pass
        self.child.wait(10)


def rig_main(server: str, seconds: float) -> None:
    from liveengine.testing.jack_rig import Capture

    os.environ["JACK_DEFAULT_SERVER"] = server
    bursts = Bursts(server, seconds)
    inputs = bursts.client.get_ports("liveengine:", is_input=True, is_audio=True)
    bursts.client.connect(bursts.port, inputs[0])
    for other in bursts.client.get_all_connections(inputs[0]):  # PortAudio's own connections (the dummy's silent capture)
        if other.name != bursts.port.name:
            bursts.client.disconnect(other, inputs[0])
    capture = Capture(server, channels=2, seconds=seconds + 15)
    capture.client.connect(bursts.client.get_ports("liveengine:", is_output=True, is_audio=True)[0], capture.ports[0])
    capture.client.connect(bursts.port, capture.ports[1])  # the dry pass through the same JACK server
    folder = Path(tempfile.mkdtemp(prefix="stream-rig-"))
    say = lambda value: print(json.dumps(value), flush=True)  # noqa: E731
    say("ready")
    for line in sys.stdin:
        request = json.loads(line)
        if request[0] == "bursts":
            capture.start()
            bursts.start = capture.frame_time() + 4 * PERIOD
            time.sleep(seconds + 1.5)
            audio, _ = capture.stop(every_cycle=False)
            np.save(folder / "bursts.npy", audio)
            say({"path": str(folder / "bursts.npy"), "bursts": len(bursts.starts)})
        elif request[0] == "record":
            capture.start()
            say("ok")
        elif request[0] == "stop":
            audio, first = capture.stop(every_cycle=False)
            np.save(folder / "notes.npy", audio)
            say({"path": str(folder / "notes.npy"), "first": first, "frames": capture.frames_at(np.array(request[1])).tolist()})
        else:
            break
    bursts.close()
    capture.close()
    say("bye")


def note_latencies(engine, rig: RigProcess, count: int = 20) -> np.ndarray:
    """The pad voice: /stream/note submitted at a moment -> the first output sample above ONSET, in ms, per note."""
    from liveengine.commands import make_command
    from liveengine.testing.jack_rig import onsets

    engine.submit(make_command("/stream/input", ("notes",)))
    time.sleep(0.3)
    rig.start()
    time.sleep(0.1)
    moments = []
    for i in range(count):
        moments.append(time.perf_counter())
        engine.submit(make_command("/stream/note", (57 + (i * 5) % 24, 1.0)))
        time.sleep(0.15)
        engine.submit(make_command("/stream/off", ()))
        time.sleep(0.25 + 0.01 * (i % 7))
    audio, first, sent = rig.stop(moments)
    heard = first + onsets(audio[:, 0], ONSET, min_gap=RATE // 20)
    found = []
    for frame in sent:
        after = heard[(heard >= frame) & (heard < frame + RATE // 10)]
        if len(after):
            found.append((after[0] - frame) / RATE * 1000.0)
    return np.array(found)


def one_latency(label: str, seconds: float, folder: str, slack: float, backend: str = "jack") -> dict:
    """One setting on a JACK server of its own; then, on the same server beside the same neighbours, the control: a bare
    Python client mixing 32 voices (bench/server_load.py's), whose xruns are the rig's floor (issue 13's rule)."""
    from liveengine.testing.jack_rig import JackUnavailable, start_jackd
    from server_load import busy_neighbours, control_run

    name = f"bench-stream-{os.getpid()}"
    try:
        server = start_jackd(name, realtime=True)
        realtime = True
    except JackUnavailable:
        server = start_jackd(name, realtime=False)
        realtime = False
    os.environ["JACK_DEFAULT_SERVER"] = name
    load = label == "performance load"
    busy = busy_neighbours(2) if load else []
    try:
        result = {"jackd_realtime": realtime, **latency_run(name, Path(folder), seconds, load=load, slack=slack, backend=backend)}
        time.sleep(1.0)
        result["control"] = control_run(name, seconds, server.process.pid)
        return result
    finally:
        for p in busy:
            p.kill()
        server.stop()


def process_cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process (all its threads) so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def steal_ticks() -> tuple[int, int]:
    """(steal, all) CPU ticks of the whole machine so far, from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return fields[7], sum(fields[:8])


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def offline_run(folder: Path, minutes: float) -> dict:
    from liveengine.decoders.stream_model import StreamModel
    from liveengine.options import EngineOptions
    from liveengine.rt.core import STREAM, RealtimeCore
    from liveengine.server.fifo import FifoWriter
    from liveengine.server.layout import Layout, SharedState
    from liveengine.stream.producer import StreamProducer, StreamSettings
    from liveengine.stream.tracker import CausalTracker

    block = 128
    state = SharedState.create(Layout(fifo_capacity=64, slots=2, slot_frames=1024, record_frames=8192, channels=2, timing_history=64,
                                      stream_frames=8192, stream_in_frames=8192, events_capacity=16), label="bench")
    core = RealtimeCore(EngineOptions(samplerate=RATE, blocksize=block, master_gain=1.0), state)
    FifoWriter(state).put((0, 0, STREAM, -1, 0.0, -1, -1, 0, 1.0, 0, 0))
    producer = StreamProducer(state, StreamModel(folder), RATE, block, StreamSettings(attack_ms=5.0, release_ms=50.0))
    out = np.zeros((block, 2), np.float32)
    blocks_per_second = RATE // block
    nan_samples, memory, probes, peaks, sounds = 0, [], [], [], []
    tone_phase = 0.0
    began = time.perf_counter()
    total_seconds = int(minutes * 60)

    def probe(second: int) -> None:  # the same note at the same z from the zero state (a panic), 1 s, tracked and measured
        producer.handle(("settings", StreamSettings(attack_ms=5.0, release_ms=50.0).as_dict()))
        producer.handle(("off", -1))
        producer.handle(("xy", 0.0, 0.0))
        for _ in range(blocks_per_second // 4):  # what the last minute left in the ring plays out first
            producer.pump()
            core.process(out, block, core.frame / RATE)
        producer.handle(("panic",))
        producer.handle(("note", 69, 1.0))
        got = []
        for _ in range(blocks_per_second):
            producer.pump()
            core.process(out, block, core.frame / RATE)
            got.append(out[:, 0].copy())
        producer.handle(("off", -1))
        audio = np.concatenate(got)
        onset = int(np.flatnonzero(np.abs(audio) > 0)[0])
        sounds.append(audio[onset : onset + RATE // 2])
        f0 = CausalTracker(RATE, producer.hop).push(sounds[-1])[0][10:]
        probes.append({"second": second, "rms": float(np.sqrt(np.mean(sounds[-1] ** 2))), "f0_median": float(np.median(f0))})

    for second in range(total_seconds):
        if second % 60 == 0:
            probe(second)
            memory.append(round(rss_mb(), 1))
        audio_mode = (second // 30) % 2 == 1
        if audio_mode:
            producer.handle(("settings", StreamSettings(input="audio", mix=0.8).as_dict()))
        else:
            producer.handle(("settings", StreamSettings(attack_ms=5.0, release_ms=50.0).as_dict()))
        peak = 0.0
        for b in range(blocks_per_second):
            if not audio_mode and b % (blocks_per_second // 2) == 0:
                producer.handle(("note", 48 + (second * 7 + b) % 36, 0.8))
                angle = 2 * np.pi * (second + b / blocks_per_second) / 20.0
                producer.handle(("xy", float(np.cos(angle)) * 0.9, float(np.sin(angle)) * 0.9))
            if audio_mode:
                f = 220.0 * 2 ** (np.sin(2 * np.pi * (second + b / blocks_per_second) / 7.0))
                phase = tone_phase + 2 * np.pi * f * np.arange(1, block + 1) / RATE
                tone_phase = float(phase[-1] % (2 * np.pi))
                core.audio_in((0.4 * np.sin(phase)).astype(np.float32))
            producer.pump()
            core.process(out, block, core.frame / RATE)
            mono = out[:, 0]
            nan_samples += int(np.count_nonzero(~np.isfinite(mono)))
            peak = max(peak, float(np.max(np.abs(mono))))
        peaks.append(peak)
    probe(total_seconds)
    memory.append(round(rss_mb(), 1))
    median, p99 = producer.compute_ms()
    first, last = probes[0], probes[-1]
    return {"minutes": minutes, "wall_seconds": round(time.perf_counter() - began, 1), "nan_samples": nan_samples,
            "nan_frames_model": producer.model.nan_frames, "fades": state.counter("stream_fades"),
            "rss_mb_per_minute": memory, "rss_growth_mb": round(memory[-1] - memory[1], 1) if len(memory) > 2 else 0.0,
            "probe_first": first, "probe_last": last,
            "pitch_drift_cents": round(1200 * float(np.log2(last["f0_median"] / first["f0_median"])), 2),
            # everything is reset by the panic, so the same note must come out the same, sample for sample
            "probe_max_difference": float(np.max(np.abs(sounds[-1] - sounds[0]))),
            "level_drift_db": round(20 * float(np.log10(last["rms"] / first["rms"])), 2),
            "peak_max": round(max(peaks), 3), "compute_ms_per_frame_median": round(median, 4), "compute_ms_per_frame_p99": round(p99, 4)}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--offline-minutes", type=float, default=10.0)
    parser.add_argument("--parts", default="latency,offline")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--rig", help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    parser.add_argument("--slack", default="0,1", help="[stream] slack_blocks values to measure (comma-separated)")
    parser.add_argument("--loads", default="quiet,performance load", help="which of the two settings to run (comma-separated)")
    parser.add_argument("--backend", default="jack", choices=("jack", "portaudio"),
                        help="the audio server's backend: a native JACK client, or PortAudio's JACK host API (duplex)")
    parser.add_argument("--out", default=str(HERE / "results_stream.json"), help="the results file (updated, not replaced)")
    args = parser.parse_args()
    if args.rig:
        rig_main(args.rig, args.seconds)
        return 0
    if args.one:
        print(json.dumps(one_latency(args.one, args.seconds, args.folder, float(args.slack), args.backend)), flush=True)
        return 0
    path = Path(args.out)
    results = json.loads(path.read_text()) if path.exists() else {}
    with tempfile.TemporaryDirectory() as scratch:
        folder, described = model_folder(Path(scratch))
        results.update({"date": time.strftime("%Y-%m-%d %H:%M"), "model": described, "peers_ms": PEERS,
                        "goals": {"added_ms_median": 10, "added_ms_p99": 12, "added_ms_jitter": 3, "compute_ms_median": 0.5,
                                  "compute_ms_p99": 1.5}})
        parts = args.parts.split(",")
        if "latency" in parts:
            results["latency"] = {k: v for k, v in results.get("latency", {}).items() if ("PortAudio" in k) != (args.backend == "portaudio")}
            for slack in args.slack.split(","):
                for label in args.loads.split(","):
                    # each run in a process of its own: a process must not talk to two JACK servers in turn
                    child = subprocess.run([sys.executable, __file__, "--one", label, "--seconds", str(args.seconds), "--folder", str(folder),
                                            "--slack", slack, "--backend", args.backend], capture_output=True, text=True,
                                           timeout=args.seconds * 4 + 240)
                    lines = child.stdout.strip().splitlines()
                    if child.returncode != 0 or not lines:
                        raise RuntimeError(f"{label} failed: {child.stderr[-1500:]}")
                    key = f"{label}, slack_blocks {slack}" + (", PortAudio duplex" if args.backend == "portaudio" else "")
                    results["latency"][key] = json.loads(lines[-1])
                    print(key, results["latency"][key], flush=True)
                    path.write_text(json.dumps(results, indent=1) + "\n")  # each run kept as it comes
        if "offline" in parts:
            results["offline"] = offline_run(folder, args.offline_minutes)
            print("offline", results["offline"], flush=True)
    path.write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    if "--rig" in sys.argv:  # the measuring clients of a run already under the lock
        sys.exit(main())
    from liveengine.job_lock import run_exclusively  # never beside a training run: each skews the other

    sys.exit(run_exclusively("the stream latency benchmark (bench/stream_latency.py)", main))
