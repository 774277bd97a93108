"""Grid benchmarks (issue 6): grid render time, mapping change to every pad ready, on-demand hits,
library fit time, and a 60-second performance under a continuous knob sweep through JACK.

Called from bench/run.py; each function returns a dict for bench/results.json.
"""

from __future__ import annotations

import os
import random
import threading
import time
from pathlib import Path

import numpy as np

RATE, PERIOD = 48000, 128


def _patch(tmp: Path, name: str, model: str, render_in: str, threads: int = 1, extra: str = "", max_seconds: float = 1.0) -> Path:
    path = tmp / f"{name}.toml"
    path.write_text(f'[model]\ndecoder = "{model}"\n[grid]\nrows = 8\ncols = 8\n{extra}\n'
                    f'[engine]\nmax_seconds = {max_seconds}\nmaster_gain = 0.5\nrender_in = "{render_in}"\nrender_threads = {threads}\n')
    return path


def _reference_model(tmp: Path) -> str:
    from liveengine.testing.models import build_stft_decoder

    build_stft_decoder(tmp / "grid-reference", latent_dim=16, n_fft=2048, hop=512, output_length=44100, channels=16)
    return "grid-reference"


def bench_grid_render(tmp: Path, quick: bool) -> dict:
    """8x8 grid: from a parameter change to every pad ready (resampled, trimmed, described), against the raw decode of 64 points."""
    from liveengine.commands import make_command
    from liveengine.engine import Engine
    from liveengine.patch import load_patch

    models = {"reference STFT decoder (ONNX, 1 s)": _reference_model(tmp), "builtin:testsynth": "builtin:testsynth"}
    from liveengine.decoders.registry import model_kind

    for path in sorted((Path(__file__).resolve().parent.parent / "models_onnx").glob("*/decoder.onnx")):
        if model_kind(path.parent) == "oneshot":  # sound models only: a groove model renders no grid of sounds
            models[f"models_onnx/{path.parent.name}"] = path.parent.name
    repeats = 3 if quick else 8
    results = {}
    for label, model in models.items():
        entry = {}
        for mode, render_in, threads in (("one_thread", "thread", 1), ("two_threads", "thread", 2), ("child_process", "process", 1)):
            engine = Engine(load_patch(_patch(tmp, f"grid-{mode}", model, render_in, threads)))
            try:
                engine.wait_rendered(timeout=300)
                times = []
                for i in range(repeats):
                    began = time.perf_counter()
                    engine.submit(make_command("/param", ["zoom", 1.0 + 0.25 * ((i % 2) + 1)]))
                    engine.wait_rendered(timeout=300)
                    times.append(time.perf_counter() - began)
                entry[f"{mode}_ms"] = float(np.median(times) * 1000)
                if mode == "one_thread":
                    decoder = engine.instrument.decoder
                    points = engine.instrument.pad_points
                    out = np.zeros((64, decoder.output_length), np.float32)
                    raw = []
                    for _ in range(repeats):
                        began = time.perf_counter()
                        for i in range(0, 64, 8):
                            decoder.decode_into(points[i : i + 8], out[i : i + 8])
                        raw.append(time.perf_counter() - began)
                    entry["raw_decode_64_ms"] = float(np.median(raw) * 1000)
            finally:
                engine.stop()
        entry["one_thread_over_raw_decode"] = entry["one_thread_ms"] / entry["raw_decode_64_ms"]
        results[label] = entry
    results["goals"] = {"one_thread_ms": 250, "two_threads_ms": 150}
    return results


def bench_mapping_switch(tmp: Path, quick: bool) -> dict:
    """Time from a live mapping switch (plane <-> corners) to every pad ready, testsynth, child-process rendering."""
    from liveengine.commands import make_command
    from liveengine.engine import Engine
    from liveengine.patch import load_patch

    rng = np.random.default_rng(0)
    corners = ", ".join("[" + ", ".join(f"{v:.3f}" for v in rng.standard_normal(8)) + "]" for _ in range(4))
    engine = Engine(load_patch(_patch(tmp, "switch", "builtin:testsynth", "process", extra=f"corners = [{corners}]")))
    try:
        engine.wait_rendered(timeout=300)
        times = []
        for i in range(4 if quick else 10):
            began = time.perf_counter()
            engine.submit(make_command("/mapping", ["corners" if i % 2 == 0 else "plane"]))
            engine.wait_rendered(timeout=300)
            times.append(time.perf_counter() - began)
    finally:
        engine.stop()
    return {"median_ms": float(np.median(times) * 1000), "max_ms": float(np.max(times) * 1000), "switches": len(times)}


def bench_library_fit(tmp: Path, quick: bool) -> dict:
    """The library mapping for 1,000 one-shots: encoding them and fitting the 8x8 map (files read from disk excluded)."""
    from liveengine.decoders.onnx_decoder import OnnxDecoder
    from liveengine.grid.som import fit_som, topographic_error
    from liveengine.testing.models import build_audio_decoder, build_encoder

    folder = build_audio_decoder(tmp / "library-model", latent_dim=16, output_length=44100)
    build_encoder(folder, 16, 44100)
    decoder = OnnxDecoder(folder)
    count = 1000
    rng = np.random.default_rng(3)
    t = np.arange(44100) / 44100
    sounds = np.stack([np.sin(2 * np.pi * rng.uniform(40, 4000) * t) * np.exp(-t * rng.uniform(3, 60))
                       + rng.standard_normal(44100) * rng.uniform(0, 0.3) * np.exp(-t * 30) for _ in range(count)]).astype(np.float32)
    began = time.perf_counter()
    encodings = np.concatenate([decoder.encode(sounds[i : i + 32]) for i in range(0, count, 32)])
    encoded = time.perf_counter() - began
    began = time.perf_counter()
    nodes = fit_som(encodings, 8, 8)
    fitted = time.perf_counter() - began
    return {"samples": count, "encode_s": encoded, "som_fit_s": fitted, "total_s": encoded + fitted,
            "som_over_encode": fitted / encoded, "topographic_error": topographic_error(nodes, encodings)}


def bench_on_demand(tmp: Path, server: str, hits: int) -> dict:
    """/xy hits between pads (each a new point) against /pad hits: arrival to first audible frame through JACK."""
    from liveengine.audio.spec import DeviceSpec
    from liveengine.commands import make_command
    from liveengine.engine import Engine
    from liveengine.patch import load_patch
    from liveengine.testing.jack_rig import Capture, onsets

    results = {}
    for label, model in (("builtin:testsynth", "builtin:testsynth"), ("reference STFT decoder (ONNX, 1 s)", _reference_model(tmp))):
        engine = Engine(load_patch(_patch(tmp, "on-demand", model, "process", max_seconds=0.05)))
        engine.wait_rendered(timeout=300)
        capture = Capture(server, seconds=hits * 2 * 0.12 + 5)
        engine.start(DeviceSpec.portaudio("JACK", RATE, PERIOD, 2))  # the audio server process (JACK_DEFAULT_SERVER inherited)
        capture.connect_from("liveengine")
        capture.start()
        time.sleep(0.5)
        rng = random.Random(2)
        submitted, kinds = [], []
        for i in range(2 * hits):
            time.sleep(0.1 + rng.random() * 0.005)
            submitted.append(time.perf_counter())
            if i % 2:
                engine.submit(make_command("/xy", [rng.random(), rng.random(), 1.0]))
                kinds.append("xy")
            else:
                engine.submit(make_command("/pad", [2, 3, 1.0]))
                kinds.append("pad")
        time.sleep(0.3)
        arrivals = capture.frames_at(np.array(submitted))
        audio, first = capture.stop()
        found = onsets(audio[:, 0], min_gap=1200) + first
        capture.close()
        status = engine.status()
        predicted = engine.instrument.on_demand.predicted
        engine.stop()
        if len(found) != len(submitted):
            results[label] = {"error": f"found {len(found)} onsets for {len(submitted)} hits", "misses": status["on_demand_misses"]}
            continue
        ms = (found - arrivals) / RATE * 1000
        xy = ms[np.array(kinds) == "xy"]
        pad = ms[np.array(kinds) == "pad"]
        results[label] = {"xy_ms": {"median": float(np.median(xy)), "p99": float(np.percentile(xy, 99)), "max": float(xy.max())},
                          "pad_ms": {"median": float(np.median(pad)), "p99": float(np.percentile(pad, 99))},
                          "xy_over_pad_median": float(np.median(xy) / np.median(pad)),
                          "misses": status["on_demand_misses"], "hits": hits, "predicted_render_ms": predicted * 1000}
    results["goal_ms"] = 10
    return results


def _cpu_seconds(pid: int | None) -> float | None:
    """utime + stime of one process (all its threads), in seconds; None once it is gone."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def _performance_pids(engine) -> dict[str, int | None]:
    """The processes a performance runs in: this control process, the audio server, the render child."""
    return {"control": os.getpid(), "server": engine.server.pid, "render": engine.instrument.workers._process.pid}


def _cpu_by_process(pids: dict[str, int | None]) -> dict[str, float | None]:
    return {name: _cpu_seconds(pid) for name, pid in pids.items()}


def bench_performance(tmp: Path, server: str, seconds: float, model: str = "builtin:testsynth") -> dict:
    """A performance: 16th notes at 120 BPM across the grid while a knob sweeps the plane (sweeps with pauses).

    Reports process CPU in cores, in all (control + audio server + render child) and per process,
    how soon after the knob's last move the pads next to the last hit and the whole grid are
    fresh, misses and xruns.
    """
    import jack

    from liveengine.audio.spec import DeviceSpec
    from liveengine.commands import make_command
    from liveengine.engine import Engine
    from liveengine.patch import load_patch

    monitor = jack.Client("perf-monitor", no_start_server=True, servername=server)
    jack_xruns = [0]
    monitor.set_xrun_callback(lambda delay: jack_xruns.__setitem__(0, jack_xruns[0] + 1))
    monitor.activate()
    engine = Engine(load_patch(_patch(tmp, "performance", model, "process")))
    engine.wait_rendered(timeout=300)
    engine.start(DeviceSpec.portaudio("JACK", RATE, PERIOD, 2))
    time.sleep(1.0)
    stop = threading.Event()
    near_ms, block_ms, all_ms = [], [], []
    hits = [0]

    def notes() -> None:  # 16ths at 120 BPM: 8 per second, walking the grid
        begin = time.perf_counter()
        i = 0
        while not stop.is_set():
            engine.submit(make_command("/pad", [(i * 5) % 8, (i * 3) % 8, 0.8]))
            i += 1
            hits[0] = i
            delay = begin + i / 8.0 - time.perf_counter()
            if delay > 0:
                time.sleep(delay)

    def knob() -> None:  # sweep for 2 s (a move every 20 ms), rest 1 s, measure freshness during the rest
        t = 0.0
        while not stop.is_set():
            sweep_end = time.perf_counter() + 2.0
            while not stop.is_set():
                engine.submit(make_command("/param", ["center_x", float(1.5 * np.sin(t))]))
                t += 0.04
                if time.perf_counter() + 0.02 >= sweep_end:
                    break  # freshness counts from the last move itself, not from a sleep after it
                time.sleep(0.02)
            last_move = time.perf_counter()
            cache = engine.instrument.cache
            near_done = block_done = None
            while time.perf_counter() - last_move < 1.0:
                pad = engine.last_pad or 0
                row, col = divmod(pad, 8)
                block = [r * 8 + c for r in range(max(0, row - 1), min(8, row + 2)) for c in range(max(0, col - 1), min(8, col + 2))]
                near = [r * 8 + c for r, c in ((row, col), (row - 1, col), (row + 1, col), (row, col - 1), (row, col + 1)) if 0 <= r < 8 and 0 <= c < 8]
                if near_done is None and all(cache.fresh[n] for n in near):
                    near_done = time.perf_counter() - last_move
                if block_done is None and all(cache.fresh[n] for n in block):
                    block_done = time.perf_counter() - last_move
                if all(cache.fresh[: cache.pads]):
                    all_ms.append((time.perf_counter() - last_move) * 1000)
                    break
                time.sleep(0.001)
            if near_done is not None:
                near_ms.append(near_done * 1000)
            if block_done is not None:
                block_ms.append(block_done * 1000)

    start_pids = _performance_pids(engine)
    start_cpu, start_wall = _cpu_by_process(start_pids), time.perf_counter()
    start_xruns, start_jack = engine.shared.counter("xruns"), jack_xruns[0]
    threads = [threading.Thread(target=notes), threading.Thread(target=knob)]
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join()
    end_cpu, wall = _cpu_by_process(start_pids), time.perf_counter() - start_wall
    end_pids = _performance_pids(engine)
    status = engine.status()
    xruns_portaudio = engine.shared.counter("xruns") - start_xruns
    engine.stop()
    # A process replaced during the run (audio server restarted, render child restarted) took its CPU time
    # with it: its share is left out (None) rather than guessed, and the total counts the others only.
    cpu_by_process = {name: (end_cpu[name] - start_cpu[name]) / wall
                      if start_pids[name] == end_pids[name] and start_cpu[name] is not None and end_cpu[name] is not None else None
                      for name in start_pids}
    cpu = sum(v for v in cpu_by_process.values() if v is not None)
    monitor.deactivate()
    monitor.close()
    return {"model": model, "seconds": round(wall, 1), "hits": hits[0], "cpu_cores": cpu, "cpu_cores_by_process": cpu_by_process,
            "cpu_complete": all(v is not None for v in cpu_by_process.values()), "server_restarts": status["server_restarts"],
            "near_fresh_ms": {"median": float(np.median(near_ms)), "max": float(np.max(near_ms))} if near_ms else None,
            "block_fresh_ms": {"median": float(np.median(block_ms)), "max": float(np.max(block_ms))} if block_ms else None,
            "grid_fresh_ms": {"median": float(np.median(all_ms)), "max": float(np.max(all_ms))} if all_ms else None,
            "pauses": len(near_ms), "not_ready": status["not_ready"], "on_demand_misses": status["on_demand_misses"],
            "xruns_portaudio": xruns_portaudio, "xruns_jack": jack_xruns[0] - start_jack,
            "goals": {"near_fresh_ms": 20, "grid_fresh_ms": 300, "cpu_cores": 1.0}}


def markdown(results: dict) -> list[str]:
    """README lines for the grid figures (empty when they were not measured)."""
    lines: list[str] = []
    g = results.get("grid_render")
    if g:
        lines += ["", "| 8x8 grid: parameter change to every pad ready (resampled, trimmed, described) | one thread | two threads | child process | raw decode of 64 | one thread / raw |",
                  "|---|---|---|---|---|---|"]
        for name, e in g.items():
            if name != "goals":
                lines.append(f"| {name} | {e['one_thread_ms']:.0f} ms | {e['two_threads_ms']:.0f} ms | {e['child_process_ms']:.0f} ms | "
                             f"{e['raw_decode_64_ms']:.0f} ms | {e['one_thread_over_raw_decode']:.2f}x |")
        lines.append(f"Goals: {g['goals']['one_thread_ms']} ms on one thread, {g['goals']['two_threads_ms']} ms on two.")
    m = results.get("mapping_switch")
    if m:
        lines += ["", f"Mapping switch (plane <-> corners, testsynth, child process) to every pad ready: median {m['median_ms']:.0f} ms, max {m['max_ms']:.0f} ms."]
    f = results.get("library_fit")
    if f:
        lines += ["", f"Library mapping for {f['samples']} one-shots: encoding {f['encode_s']:.2f} s, 8x8 map fit {f['som_fit_s'] * 1000:.0f} ms "
                  f"({f['som_over_encode']:.2f}x the encoding time), topographic error {f['topographic_error']:.3f}."]
    o = results.get("on_demand")
    if o:
        lines += ["", "| hit between pads (/xy, a new point each time) through JACK | /xy median | /xy p99 | /xy max | /pad median (same run) | deadline misses |",
                  "|---|---|---|---|---|---|"]
        for name, e in o.items():
            if name == "goal_ms":
                continue
            if "error" in e:
                lines.append(f"| {name} | {e['error']} | | | | {e.get('misses', '')} |")
                continue
            lines.append(f"| {name} | {e['xy_ms']['median']:.2f} ms | {e['xy_ms']['p99']:.2f} ms | {e['xy_ms']['max']:.2f} ms | "
                         f"{e['pad_ms']['median']:.2f} ms | {e['misses']} of {e['hits']} (predicted render {e['predicted_render_ms']:.1f} ms) |")
        lines.append(f"Goal: audible within {o['goal_ms']} ms. A miss is a hit whose render was predicted to take longer: the nearest pad played at once (its latency is the /pad one).")
    p = results.get("performance")
    if p:
        near, grid = p.get("near_fresh_ms"), p.get("grid_fresh_ms")
        split = p.get("cpu_cores_by_process")
        if split:
            parts = ", ".join(f"{name} {'n/a (restarted)' if v is None else f'{v:.2f}'}" for name, v in split.items())
            cpu_text = f"CPU {p['cpu_cores']:.2f} cores (control + audio server + render processes: {parts}; goal <= 1); "
        else:  # results from before the audio server process
            cpu_text = f"CPU {p['cpu_cores']:.2f} cores (engine + render process; goal <= 1); "
        lines += ["", f"Performance ({p['seconds']} s, 16ths at 120 BPM, {p['hits']} hits, a knob sweeping the plane for 2 s then resting 1 s): "
                  + cpu_text + f"model {p.get('model', 'builtin:testsynth')}; "]
        lines[-1] += (f"the last hit pad and its 4 neighbours fresh {near['median']:.0f} ms after the knob's last move "
                      f"(median, max {near['max']:.0f} ms; goal 20 ms), the 3x3 around it {p['block_fresh_ms']['median']:.0f} ms; " if near else "no freshness measured; ")
        lines[-1] += (f"the whole grid {grid['median']:.0f} ms (median, max {grid['max']:.0f} ms; goal 300 ms); " if grid else "the whole grid not fresh within 1 s of rest; ")
        lines[-1] += (f"xruns {p['xruns_jack']} (JACK), {p['xruns_portaudio']} (PortAudio); hits on unrendered pads {p['not_ready']}; "
                      f"deadline misses {p['on_demand_misses']}.")
        if p.get("server_restarts"):
            lines[-1] += f" The audio server was restarted {p['server_restarts']} times during the run."
    return lines
