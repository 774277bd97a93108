"""Why a stream frame costs more in a live run than back to back, and what cuts it: candidates as ratios
against the code before them, in one process, interleaved round by round.

    python bench/stream_compute.py [--rounds 12] [--frames 40]

A frame is the producer's audio-input work (liveengine/stream/producer.py): the causal tracker's step on a
5 ms hop of a tone, the model (models_onnx/voices, or a generated GRU of its size) and the synth. Frames
come one hop apart (5 ms), the producer's wait between them a loop of 0.2 ms sleeps as in its poll, or
back to back (nothing between: every cache warm). Each frame's wall time (perf_counter) and this thread's
CPU time (thread_time) are taken per stage; minor page faults and involuntary context switches per mode.

Modes, each against `before` (session.run with a dict of inputs, as StreamModel.run did):
- `bound`: StreamModel.run now: io_binding to arrays bound once, nothing allocated per call.
- `bound + warm`: and the last frame's model call run again (nothing kept) `--warm-ms` before the frame.
- `back to back`: the frame path with nothing between frames (the cache-warm floor).
- `pinned`: every mode again with this process pinned to one core (os.sched_setaffinity), in alternate rounds.
- onnxruntime session options (model alone): the memory arena and pattern off, basic graph optimisation.
- the producer's wait between input checks, asked for 0.2 ms: conn.poll (before) against select (message_within).

Writes bench/results_stream_compute.json; docs/benchmarks.md summarises it.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))
RATE = 48000
POLL = 0.0002  # the producer's wait between input checks (producer.POLL_AUDIO_SECONDS)


def wait_until(moment: float) -> None:
    while True:
        left = moment - time.perf_counter()
        if left <= 0:
            return
        time.sleep(min(POLL, left))


class FramePath:
    """The producer's per-frame stages on one model, tracker and synth; `before` runs the model as it was run before."""

    def __init__(self, folder: Path) -> None:
        from liveengine.decoders.stream_model import StreamModel
        from liveengine.stream.synth import HarmonicNoiseSynth
        from liveengine.stream.tracker import CausalTracker

        self.model = model = StreamModel(folder, threads=1)
        info = model.info
        self.hop = hop = info.hop(RATE)
        self.synth = HarmonicNoiseSynth(RATE, hop, info.harmonics, info.band_edges_hz)
        self.tracker = CausalTracker(RATE, hop, max(info.f0_range_hz[0], 30.0), min(info.f0_range_hz[1], 0.45 * RATE))
        t = np.arange(RATE * 4) / RATE
        self.tone = (0.4 * np.sin(2 * np.pi * 220.0 * 2 ** (0.5 * np.sin(2 * np.pi * t / 3.0)) * t)).astype(np.float32)
        self.z = np.array([[0.0, 0.8]], np.float32)
        self.at = 0

    def _model_before(self, f0, loudness, z):
        """StreamModel.run before io_binding: session.run with a dict, its outputs allocated per call."""
        m = self.model
        frames = len(f0)
        f0 = np.fmin(np.fmax(np.asarray(f0, np.float32).reshape(1, frames), m._f0_low), m._f0_high)
        loudness = np.fmin(np.fmax(np.asarray(loudness, np.float32).reshape(1, frames), m._db_low), m._db_high)
        amplitude, harmonics, noise, state = m._run(f0, loudness, np.asarray(z, np.float32).reshape(1, frames, 2))
        m.state[...] = state
        return np.maximum(amplitude.reshape(frames), 0.0), np.maximum(harmonics[0], 0.0), np.maximum(noise[0], 0.0)

    def warm(self) -> None:
        """The last frame's model call again on its bound arrays, the state untouched (its output goes to state_out, which
        only the next run copies back): the weights into the cache just before a frame."""
        binding, _ = self.model._binding(1)
        self.model.session.run_with_iobinding(binding)

    def frame(self, before: bool) -> tuple[list[int], list[int]]:
        """One frame: ([tracker, model, synth] wall ns, the same in CPU ns)."""
        hop = self.hop
        if self.at + hop > len(self.tone):
            self.at = 0
        wall, cpu = [time.perf_counter_ns()], [time.thread_time_ns()]
        f0, loudness, _ = self.tracker.step(self.tone[self.at : self.at + hop])
        self.at += hop
        wall.append(time.perf_counter_ns())
        cpu.append(time.thread_time_ns())
        f0a, lda = np.array([f0], np.float32), np.array([loudness], np.float32)
        run = self._model_before if before else self.model.run
        amplitude, harmonics, noise = run(f0a, lda, self.z)
        wall.append(time.perf_counter_ns())
        cpu.append(time.thread_time_ns())
        self.synth.render(f0a, amplitude, harmonics, noise)
        wall.append(time.perf_counter_ns())
        cpu.append(time.thread_time_ns())
        return list(np.diff(wall)), list(np.diff(cpu))


def summary(walls: list, cpus: list) -> dict:
    w, c = np.array(walls) / 1e6, np.array(cpus) / 1e6
    total_w, total_c = w.sum(axis=1), c.sum(axis=1)
    return {"frames": len(w), "wall_ms_median": round(float(np.median(total_w)), 4), "wall_ms_p99": round(float(np.percentile(total_w, 99)), 4),
            "cpu_ms_median": round(float(np.median(total_c)), 4), "cpu_ms_p99": round(float(np.percentile(total_c, 99)), 4),
            "stages_wall_ms_median": dict(zip(("tracker", "model", "synth"), (round(float(v), 4) for v in np.median(w, axis=0))))}


def frame_modes(path: FramePath, rounds: int, frames: int, warm_ms: float) -> dict:
    modes = ("before", "bound", "bound + warm", "before, back to back", "bound, back to back")
    record = {(m, p): ([], [], [0, 0, 0]) for m in modes for p in (False, True)}
    everywhere = os.sched_getaffinity(0)
    pin_to = {max(everywhere)}
    hop_seconds = path.hop / RATE
    for r in range(rounds):
        pinned = r % 2 == 1
        os.sched_setaffinity(0, pin_to if pinned else everywhere)
        for mode in modes:
            walls, cpus, counts = record[(mode, pinned)]
            spaced = "back to back" not in mode
            before = mode.startswith("before")
            due = time.perf_counter() + hop_seconds
            use0 = resource.getrusage(resource.RUSAGE_THREAD)
            for _ in range(frames):
                if spaced:
                    if mode == "bound + warm":
                        wait_until(due - warm_ms / 1000.0)
                        path.warm()
                    wait_until(due)
                    due += hop_seconds
                w, c = path.frame(before)
                walls.append(w)
                cpus.append(c)
            use1 = resource.getrusage(resource.RUSAGE_THREAD)
            counts[0] += use1.ru_minflt - use0.ru_minflt
            counts[1] += use1.ru_nivcsw - use0.ru_nivcsw
            counts[2] += frames
    os.sched_setaffinity(0, everywhere)
    out = {}
    for (mode, pinned), (walls, cpus, counts) in record.items():
        key = f"{mode}{', pinned to one core' if pinned else ''}"
        out[key] = {**summary(walls, cpus), "minor_faults_per_frame": round(counts[0] / counts[2], 3),
                    "preemptions_per_frame": round(counts[1] / counts[2], 3)}
    base = out["before"]["wall_ms_median"]
    for value in out.values():
        value["wall_median_ratio_to_before"] = round(value["wall_ms_median"] / base, 3)
    return out


def session_modes(folder: Path, rounds: int, frames: int) -> dict:
    """The model alone, a frame every 5 ms: session.run under other session options, and io_binding."""
    import onnxruntime as ort

    def session(**settings):
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        for key, value in settings.items():
            setattr(options, key, value)
        return ort.InferenceSession(str(folder / "decoder.onnx"), sess_options=options, providers=["CPUExecutionProvider"])

    state_size = json.loads(session().get_modelmeta().custom_metadata_map["liveengine.state_size"])
    feeds = {"f0_hz": np.full((1, 1), 220.0, np.float32), "loudness_db": np.full((1, 1), -20.0, np.float32),
             "z": np.zeros((1, 1, 2), np.float32), "state": np.zeros((1, state_size), np.float32)}
    names = ["amplitude", "harmonics", "noise", "state_out"]

    def plain(s):
        return lambda: s.run(names, feeds)

    def bound(s):
        binding = s.io_binding()
        outputs = [np.zeros([d if isinstance(d, int) else 1 for d in o.shape], np.float32) for o in s.get_outputs()]
        for name, array in feeds.items():
            binding.bind_input(name, "cpu", 0, np.float32, list(array.shape), array.ctypes.data)
        for o, array in zip(s.get_outputs(), outputs):
            binding.bind_output(o.name, "cpu", 0, np.float32, list(array.shape), array.ctypes.data)
        return lambda: s.run_with_iobinding(binding)

    calls = {"session.run (before)": plain(session()),
             "session.run, arena and memory pattern off": plain(session(enable_cpu_mem_arena=False, enable_mem_pattern=False)),
             "session.run, basic graph optimisation": plain(session(graph_optimization_level=ort.GraphOptimizationLevel.ORT_ENABLE_BASIC)),
             "io_binding": bound(session()),
             "io_binding, arena and memory pattern off": bound(session(enable_cpu_mem_arena=False, enable_mem_pattern=False))}
    times = {k: [] for k in calls}
    for _ in range(rounds):
        for key, call in calls.items():
            due = time.perf_counter()
            for _ in range(frames):
                due += 0.005
                wait_until(due)
                began = time.perf_counter_ns()
                call()
                times[key].append(time.perf_counter_ns() - began)
    base = float(np.median(times["session.run (before)"]))
    return {k: {"ms_median": round(float(np.median(v)) / 1e6, 4), "ms_p99": round(float(np.percentile(v, 99)) / 1e6, 4),
                "median_ratio_to_before": round(float(np.median(v)) / base, 3)} for k, v in times.items()}


def waits(count: int = 400) -> dict:
    """The producer's wait for a message between input checks, asked for 0.2 ms (POLL_AUDIO_SECONDS): how long it lasts."""
    from multiprocessing import Pipe

    from liveengine.stream.producer import POLL_AUDIO_SECONDS, message_within

    mine, theirs = Pipe()
    ways = {"conn.poll (before)": lambda: mine.poll(POLL_AUDIO_SECONDS), "select (message_within)": lambda: message_within(mine, POLL_AUDIO_SECONDS)}
    times = {k: [] for k in ways}
    for _ in range(count // 50):
        for key, wait in ways.items():
            for _ in range(50):
                began = time.perf_counter_ns()
                wait()
                times[key].append(time.perf_counter_ns() - began)
    theirs.close()
    return {k: {"asked_ms": POLL_AUDIO_SECONDS * 1000, "ms_median": round(float(np.median(v)) / 1e6, 4),
                "ms_p99": round(float(np.percentile(v, 99)) / 1e6, 4)} for k, v in times.items()}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--frames", type=int, default=40)
    parser.add_argument("--warm-ms", type=float, default=0.3)
    parser.add_argument("--out", default=str(HERE / "results_stream_compute.json"))
    args = parser.parse_args()
    from stream_latency import model_folder

    with tempfile.TemporaryDirectory() as scratch:
        folder, described = model_folder(Path(scratch))
        path = FramePath(folder)
        for _ in range(50):  # the first runs allocate onnxruntime's buffers and numpy's caches
            path.frame(False)
            path.frame(True)
        load = os.getloadavg()
        results = {"date": time.strftime("%Y-%m-%d %H:%M"), "model": described, "cores": os.cpu_count(),
                   "load_average_1min": round(load[0], 2), "rounds": args.rounds, "frames_per_round": args.frames, "warm_ms": args.warm_ms,
                   "frame": frame_modes(path, args.rounds, args.frames, args.warm_ms),
                   "model_alone": session_modes(folder, max(2, args.rounds // 2), args.frames), "wait": waits()}
        results["load_average_1min_after"] = round(os.getloadavg()[0], 2)
    Path(args.out).write_text(json.dumps(results, indent=1) + "\n")
    for key, value in results["frame"].items():
        print(f"{key:45s} {value}")
    for key, value in {**results["model_alone"], **results["wait"]}.items():
        print(f"{key:45s} {value}")
    return 0


if __name__ == "__main__":
    from liveengine.job_lock import run_exclusively  # never beside a training run: each skews the other

    sys.exit(run_exclusively("the stream compute benchmark (bench/stream_compute.py)", main))
