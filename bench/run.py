"""liveengine benchmarks: one command, results in bench/results.json, bench/results.md and docs/benchmarks.md.

    python bench/run.py            # full run (about 2.5 minutes)
    python bench/run.py --quick    # shorter runs, same measurements

Every figure is measured through a real JACK server on its dummy driver
(48 kHz, 128-frame periods). The engine plays through its audio server process
(PortAudio's JACK host API, loaded only there); this process never loads PortAudio:
- callback time and lateness with 32 active voices, against a bare PortAudio client
  alone in its process (bench/bare_client.py: an empty callback, and one mixing 32
  preallocated voices with numpy);
- xruns over a long run while a worker renders continuously and 500 commands/s arrive;
- command-to-output latency in both timing modes, with jitter (p99 - p1).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RATE, PERIOD = 48000, 128
PERIOD_S = PERIOD / RATE


def percentiles(values: np.ndarray, scale: float) -> dict:
    values = np.asarray(values) / scale
    return {"median": float(np.median(values)), "p99": float(np.percentile(values, 99)),
            "p99.9": float(np.percentile(values, 99.9)), "max": float(values.max()), "n": int(len(values))}


def make_patch(tmp: Path, name: str, max_seconds: float, timing: str = "constant", render_in: str = "process") -> Path:
    path = tmp / f"{name}.toml"
    path.write_text(f'[audio]\ntiming = "{timing}"\n[engine]\nmax_seconds = {max_seconds}\nmaster_gain = 0.5\nrender_in = "{render_in}"\n')
    return path


def bare_client(seconds: float, voices: int = 0) -> dict:
    """bench/bare_client.py in a process of its own: a bare PortAudio JACK client, the control for the engine's
    audio server process (the JACK server is the one JACK_DEFAULT_SERVER names, inherited)."""
    command = [sys.executable, str(HERE / "bare_client.py"), str(seconds)] + (["--mix", str(voices)] if voices else [])
    child = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
    lines = child.stdout.strip().splitlines()
    result = json.loads(lines[-1]) if lines and lines[-1].startswith("{") else {"error": (child.stderr or child.stdout)[-300:]}
    if child.returncode != 0 or "error" in result:
        raise RuntimeError(f"bench/bare_client.py{' --mix ' + str(voices) if voices else ''} failed: {result.get('error') or child.stderr[-300:]}")
    return result


def bench_callback(tmp: Path, seconds: float) -> dict:
    from liveengine.audio.spec import DeviceSpec
    from liveengine.commands import make_command
    from liveengine.engine import Engine
    from liveengine.patch import load_patch

    # The controls, each alone in its process as the engine's audio server is; one at a time, before the engine.
    empty = bare_client(seconds)
    mix_32 = bare_client(seconds, voices=32)

    engine = Engine(load_patch(make_patch(tmp, "voices", 4.0)))
    engine.wait_rendered(timeout=120)
    engine.start(DeviceSpec.portaudio("JACK", RATE, PERIOD, 2))
    shared = engine.shared
    stop = threading.Event()
    voices: list[int] = []

    def keep_32_voices() -> None:
        i = 0
        while not stop.wait(0.01):
            # 1-s sounds re-triggered fast enough that all 32 voices stay busy (stealing the oldest).
            for _ in range(2):
                engine.submit(make_command("/pad", [i % 8, (i // 8) % 8, 0.8]))
                i += 1
            # What engine.status()["voices"] reports, read without the rest of status() (timing copies, percentiles) 100 times a second.
            voices.append(shared.counter("voices_sounding") + shared.counter("voices_fading"))

    feeder = threading.Thread(target=keep_32_voices)
    feeder.start()
    time.sleep(1.0)
    blocks_before, xruns_before = shared.blocks.load(), shared.counter("xruns")
    time.sleep(seconds)
    stop.set()
    feeder.join()
    measured = shared.blocks.load() - blocks_before
    xruns = shared.counter("xruns") - xruns_before
    callback, lateness = engine.timings()  # oldest first, from the audio server's shared timing rings
    first = max(0, len(callback) - measured)  # the measured blocks: the newest ones (the ring holds 65,536)
    callback, lateness = callback[first:], lateness[first:]
    restarts = engine.server.restarts
    engine.stop()
    engine_callback = percentiles(callback, PERIOD_S)
    return {
        "voices_sounding_median": float(np.median([min(v, 32) for v in voices[100:]])),
        "engine": {"callback": engine_callback, "lateness": percentiles(lateness, PERIOD_S), "xruns": xruns, "server_restarts": restarts},
        "empty": empty,
        "mix_32": mix_32,
        "ratio_p99": float(engine_callback["p99"] / max(empty["callback"]["p99"], 1e-9)),
        "ratio_p99_mix_32": float(engine_callback["p99"] / max(mix_32["callback"]["p99"], 1e-9)),
    }


def bench_xruns(tmp: Path, server: str, seconds: float, render_in: str) -> dict:
    import jack

    from liveengine.audio.spec import DeviceSpec
    from liveengine.commands import make_command
    from liveengine.engine import Engine
    from liveengine.patch import load_patch

    monitor = jack.Client("xrun-monitor", no_start_server=True, servername=server)
    jack_xruns = [0]
    monitor.set_xrun_callback(lambda delay: jack_xruns.__setitem__(0, jack_xruns[0] + 1))
    monitor.activate()
    engine = Engine(load_patch(make_patch(tmp, f"load-{render_in}", 1.0, render_in=render_in)))
    engine.wait_rendered(timeout=120)
    engine.start(DeviceSpec.portaudio("JACK", RATE, PERIOD, 2))
    time.sleep(1.0)
    start_xruns, start_jack = engine.shared.counter("xruns"), jack_xruns[0]
    stop = threading.Event()
    sent = [0]
    renders = [0]

    def commands() -> None:  # 500 commands per second, paced on absolute times
        begin = time.perf_counter()
        i = 0
        while not stop.is_set():
            engine.submit(make_command("/pad", [i % 8, (i * 3) % 8, 0.7]))
            i += 1
            sent[0] = i
            delay = begin + i / 500.0 - time.perf_counter()
            if delay > 0:
                time.sleep(delay)

    def render() -> None:  # the whole grid re-rendered over and over
        zoom = 1.0
        while not stop.is_set():
            zoom = 1.5 if zoom == 1.0 else 1.0
            engine.submit(make_command("/param", ["zoom", zoom]))
            engine.wait_rendered(timeout=60)
            renders[0] += 1

    threads = [threading.Thread(target=commands), threading.Thread(target=render)]
    for t in threads:
        t.start()
    began = time.perf_counter()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - began
    status = engine.status()
    xruns_portaudio = engine.shared.counter("xruns") - start_xruns
    engine.stop()
    monitor.deactivate()
    monitor.close()
    return {"render_in": render_in, "seconds": round(elapsed, 1), "commands_per_second": round(sent[0] / elapsed), "grid_renders": renders[0],
            "pads_rendered_per_second": round(renders[0] * 64 / elapsed, 1),
            "xruns_portaudio": xruns_portaudio, "xruns_jack": jack_xruns[0] - start_jack,
            "queue_drops": status["queue_drops"], "callback_errors": status["callback_errors"],
            "server_restarts": status["server_restarts"]}


def bench_osc(tmp: Path, server: str, hits: int, rate_seconds: float) -> dict:
    """OSC message to first audible frame, timetag-to-onset error, and a sustained message rate."""
    import socket

    from liveengine.audio.spec import DeviceSpec
    from liveengine.control.osc.server import OscServer, build_bundle, build_message
    from liveengine.engine import Engine
    from liveengine.patch import load_patch
    from liveengine.testing.jack_rig import Capture, onsets

    engine = Engine(load_patch(make_patch(tmp, "osc", 0.05)))
    engine.wait_rendered(timeout=120)
    capture = Capture(server, seconds=hits * 0.25 + 10)
    engine.start(DeviceSpec.portaudio("JACK", RATE, PERIOD, 2))
    capture.connect_from("liveengine")
    osc = OscServer(engine, "127.0.0.1", 0, max_messages_per_second=50000)
    osc.start()
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rng = random.Random(2)
    try:
        capture.start()
        time.sleep(0.5)
        sent = []
        message = build_message("/pad", 2, 3, 1.0)
        for _ in range(hits):
            time.sleep(0.1 + rng.random() * 0.005)
            sent.append(time.perf_counter())
            client.sendto(message, osc.address)
        # Timetagged bundles, each sent 30-40 ms ahead of its time.
        tagged = []
        for _ in range(hits):
            time.sleep(0.1 + rng.random() * 0.005)
            when = time.time() + 0.03 + rng.random() * 0.01
            tagged.append(time.perf_counter() + (when - time.time()))
            client.sendto(build_bundle(when, ("/pad", 2, 3, 1.0)), osc.address)
        time.sleep(0.3)
        arrivals = capture.frames_at(np.array(sent + tagged))
        audio, first = capture.stop()
        found = onsets(audio[:, 0], min_gap=1200) + first
        result: dict = {}
        if len(found) != 2 * hits:
            result["error"] = f"found {len(found)} onsets for {2 * hits} messages"
        else:
            now_ms = (found[:hits] - arrivals[:hits]) / RATE * 1000
            tag_ms = (found[hits:] - arrivals[hits:]) / RATE * 1000
            result["message_to_sound_ms"] = {"median": float(np.median(now_ms)), "p99": float(np.percentile(now_ms, 99)),
                                             "max": float(now_ms.max()), "jitter": float(np.percentile(now_ms, 99) - np.percentile(now_ms, 1))}
            result["timetag_to_onset_ms"] = {"median": float(np.median(tag_ms)), "p1": float(np.percentile(tag_ms, 1)),
                                             "p99": float(np.percentile(tag_ms, 99)), "spread": float(np.percentile(tag_ms, 99) - np.percentile(tag_ms, 1))}
        result["late_bundles"] = osc.counters.late_bundles
        # Sustained rate: messages that cost the engine a check and a queue slot but make no sound.
        xruns_before = engine.shared.counter("xruns")
        handled_before = osc.counters.handled
        quiet = build_message("/pad/off", 1, 1)
        target = 10_000
        count = 0
        began = time.perf_counter()
        while time.perf_counter() - began < rate_seconds:
            for _ in range(100):
                client.sendto(quiet, osc.address)
            count += 100
            delay = began + count / target - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
        elapsed = time.perf_counter() - began
        time.sleep(0.5)
        handled = osc.counters.handled - handled_before
        result["sustained"] = {"sent_per_second": round(count / elapsed), "sent": count, "handled": handled,
                               "lost": count - handled, "flood_dropped": osc.counters.flood_dropped,
                               "xruns": engine.shared.counter("xruns") - xruns_before}
        return result
    finally:
        client.close()
        osc.stop()
        engine.stop()
        capture.close()


def bench_latency(tmp: Path, server: str, hits: int) -> dict:
    from liveengine.audio.spec import DeviceSpec
    from liveengine.commands import make_command
    from liveengine.engine import Engine
    from liveengine.patch import load_patch
    from liveengine.testing.jack_rig import Capture, onsets

    results = {}
    for mode in ("constant", "lowest-latency"):
        engine = Engine(load_patch(make_patch(tmp, f"latency-{mode}", 0.05, mode)))
        engine.wait_rendered(timeout=120)
        capture = Capture(server, seconds=hits * 0.12 + 5)
        engine.start(DeviceSpec.portaudio("JACK", RATE, PERIOD, 2))
        output_latency = engine.server.output_latency  # as the audio server's PortAudio stream reported it
        capture.connect_from("liveengine")
        capture.start()
        time.sleep(0.5)
        rng = random.Random(1)
        submitted = []
        for _ in range(hits):
            time.sleep(0.1 + rng.random() * 0.005)
            submitted.append(time.perf_counter())
            engine.submit(make_command("/pad", [2, 3, 1.0]))
        time.sleep(0.3)
        arrivals = capture.frames_at(np.array(submitted))
        audio, first = capture.stop()
        found = onsets(audio[:, 0], min_gap=1200) + first
        capture.close()
        engine.stop()
        if len(found) != hits:
            results[mode] = {"error": f"found {len(found)} onsets for {hits} hits"}
            continue
        in_graph = (found - arrivals) / RATE * 1000
        results[mode] = {
            "in_graph_ms": {"median": float(np.median(in_graph)), "p1": float(np.percentile(in_graph, 1)),
                            "p99": float(np.percentile(in_graph, 99))},
            "jitter_ms": float(np.percentile(in_graph, 99) - np.percentile(in_graph, 1)),
            "reported_output_latency_ms": output_latency * 1000,
            "total_median_ms": float(np.median(in_graph) + output_latency * 1000),
            "hits": hits,
        }
    # How regular the dummy driver's own cycles are on this machine: a floor under any jitter above.
    capture = Capture(server, seconds=5)
    capture.start()
    time.sleep(3)
    frames = capture.cycles[: capture.count].astype(float)
    times = capture.entered[: capture.count]
    capture.stop()
    capture.close()
    slope, intercept = np.polyfit(frames, times, 1)
    residual = (times - (slope * frames + intercept)) * 1000
    results["driver_cycle_jitter_ms"] = float(np.percentile(residual, 99) - np.percentile(residual, 1))
    return results


def _median_seconds(fn, repeats: int) -> float:
    fn()  # warm
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return float(np.median(times))


def _torch_reference(folder: Path):
    """The reference decoder's graph (up to magnitude/phase) rebuilt in PyTorch eager, same weights."""
    try:
        import torch
    except ImportError:
        return None
    import onnx
    from onnx import numpy_helper

    weights = {t.name: torch.from_numpy(numpy_helper.to_array(t).copy()) for t in onnx.load(str(folder / "decoder.onnx")).graph.initializer}
    frames, channels = int(weights["shape"][1]), int(weights["shape"][2])
    torch.set_num_threads(1)

    def graph(z):
        with torch.inference_mode():
            h = torch.tanh((z @ weights["w1"] + weights["b1"]).reshape(-1, frames, channels))
            magnitude = torch.nn.functional.softplus(h @ weights["wm"]).transpose(1, 2) * weights["decay"]
            phase = torch.tanh(h @ weights["wp"]).transpose(1, 2) * weights["pi"]
            return magnitude, phase

    return graph


def bench_decode(tmp: Path, quick: bool) -> dict:
    """Decode time on one thread, inverse STFT included, for a fixed-size reference decoder and the shipped models."""
    from liveengine.decoders.onnx_decoder import OnnxDecoder
    from liveengine.decoders.test_synth import TestSynthDecoder
    from liveengine.testing.models import build_stft_decoder

    reference = build_stft_decoder(tmp / "reference", latent_dim=16, n_fft=2048, hop=512, output_length=44100, channels=16)
    decoders = {"reference (STFT 2048/512, 1 s, generated)": OnnxDecoder(reference, threads=1),
                "builtin:testsynth (numpy)": TestSynthDecoder()}
    from liveengine.decoders.registry import model_kind

    for path in sorted((REPO / "models_onnx").glob("*/decoder.onnx")):
        if model_kind(path.parent) == "oneshot":  # the sound models (the groove model's speed is in bench/groove_quality.py)
            decoders[f"models_onnx/{path.parent.name}"] = OnnxDecoder(path.parent, threads=1)
    repeats = 5 if quick else 20
    results: dict = {}
    for name, decoder in decoders.items():
        rng = np.random.default_rng(0)
        entry = {}
        for batch in (1, 64):
            z = rng.standard_normal((batch, decoder.latent_dim)).astype(np.float32)
            out = np.zeros((batch, decoder.output_length), np.float32)
            entry[f"batch_{batch}_ms"] = _median_seconds(lambda: decoder.decode_into(z, out), repeats if batch == 1 else max(2, repeats // 5)) * 1000
        entry["per_sound_in_batch_64_ms"] = entry["batch_64_ms"] / 64
        results[name] = entry
    # onnxruntime against PyTorch eager on the same graph (inverse STFT excluded: it is the same numpy code for both).
    ref = decoders["reference (STFT 2048/512, 1 s, generated)"]
    torch_graph = _torch_reference(reference)
    z = np.random.default_rng(1).standard_normal((1, 16)).astype(np.float32)
    binding_runs = lambda: ref.session.run(None, {"z": z})  # noqa: E731
    ort_ms = _median_seconds(binding_runs, repeats) * 1000
    comparison = {"onnxruntime_graph_ms": ort_ms}
    if torch_graph is not None:
        import torch

        tz = torch.from_numpy(z)
        torch_ms = _median_seconds(lambda: torch_graph(tz), repeats) * 1000
        comparison.update({"pytorch_eager_graph_ms": torch_ms, "pytorch_over_onnxruntime": torch_ms / ort_ms})
    magnitude, phase = ref.session.run(None, {"z": z})
    audio = np.zeros((1, ref.output_length), np.float32)
    comparison["inverse_stft_ms"] = _median_seconds(lambda: ref.istft(magnitude, phase, audio), repeats) * 1000
    exp_ms = _median_seconds(lambda: np.fft.irfft(magnitude * np.exp(1j * phase), n=2048, axis=1), repeats) * 1000
    cos_ms = _median_seconds(lambda: np.fft.irfft((magnitude * np.cos(phase) + 1j * (magnitude * np.sin(phase))).astype(np.complex64), n=2048, axis=1), repeats) * 1000
    comparison["complex_from_exp_over_cos_sin"] = exp_ms / cos_ms
    results["comparison"] = comparison
    return results


def markdown(results: dict) -> str:
    cb = results["callback"]
    e, z, mixed = cb["engine"], cb["empty"], cb.get("mix_32")
    own = "xruns" in z  # bench/bare_client.py in a process of its own; results from before the audio server: the bench process

    def row(label: str, r: dict) -> str:
        return f"| {label} | {r['median']:.1%} | {r['p99']:.1%} | {r['p99.9']:.1%} | {r['max']:.1%} |"

    where = "audio server process" if own else "in the bench process"
    control = "bare PortAudio client, own process" if own else "same process"
    ratio_text = f"Engine callback p99 is {cb['ratio_p99']:.1f}x the empty callback's"
    if "ratio_p99_mix_32" in cb:
        ratio_text += f" and {cb['ratio_p99_mix_32']:.2f}x the bare 32-voice numpy mix's"
    if own and "xruns" in e:
        ratio_text += f"; PortAudio underflows while measured: engine {e['xruns']}, empty callback {z['xruns']}"
        ratio_text += f", 32-voice mix {mixed['xruns']}" if mixed else ""
    if e.get("server_restarts"):
        ratio_text += f"; the audio server was restarted {e['server_restarts']} times"
    lines = [
        f"Measured {results['date']} on {results['machine']} through a JACK dummy server "
        f"(48 kHz, 128-frame periods = {PERIOD_S * 1000:.2f} ms), `python bench/run.py{' --quick' if results['quick'] else ''}`.",
        "",
        "| audio callback, fraction of the block period | median | p99 | p99.9 | max |",
        "|---|---|---|---|---|",
        row(f"engine ({where}), {cb['voices_sounding_median']:.0f} voices sounding: callback time", e["callback"]),
        row(f"empty callback (baseline, {control}): callback time", z["callback"]),
    ] + ([row("bare PortAudio client mixing 32 voices with numpy (own process): callback time", mixed["callback"])] if mixed else []) + [
        row("engine: lateness (start vs. the stream's clock)", e["lateness"]),
        row("empty callback: lateness", z["lateness"]),
    ] + ([row("bare client mixing 32 voices: lateness", mixed["lateness"])] if mixed else []) + [
        "",
        ratio_text + ". Goal: p99 <= 10%, p99.9 <= 25% of the period.",
        "",
        "| load run: commands/s + the whole grid re-rendered back to back | rendering in | seconds | grid renders (pads/s) | JACK xruns | PortAudio underflows | queue drops | callback errors | audio server restarts |",
        "|---|---|---|---|---|---|---|---|---|",
    ] + [
        f"| {x['commands_per_second']} commands/s | {x['render_in']} | {x['seconds']} | {x['grid_renders']} ({x['pads_rendered_per_second']}) | "
        f"**{x['xruns_jack']}** | {x['xruns_portaudio']} | {x['queue_drops']} | {x['callback_errors']} | {x.get('server_restarts', 'n/a')} |"
        for x in results["xruns"]
    ] + [
        "",
        "| command to output | in-graph median | p1 | p99 | jitter (p99-p1) | + reported output latency | total median |",
        "|---|---|---|---|---|---|---|",
    ]
    for mode in ("constant", "lowest-latency"):
        r = results["latency"][mode]
        if "error" in r:
            lines.append(f"| {mode} | {r['error']} | | | | | |")
            continue
        g = r["in_graph_ms"]
        lines.append(f"| {mode} | {g['median']:.2f} ms | {g['p1']:.2f} ms | {g['p99']:.2f} ms | {r['jitter_ms']:.2f} ms | "
                     f"{r['reported_output_latency_ms']:.2f} ms | {r['total_median_ms']:.2f} ms |")
    o = results.get("osc")
    if o:
        lines += [""]
        if "error" in o:
            lines.append(f"OSC: {o['error']}.")
        else:
            m, t = o["message_to_sound_ms"], o["timetag_to_onset_ms"]
            lines += [
                "| OSC over UDP into JACK | median | p99 | max | jitter / spread |", "|---|---|---|---|---|",
                f"| `/pad` message to first audible frame | {m['median']:.2f} ms ({m['median'] / (PERIOD_S * 1000):.2f} periods) | "
                f"{m['p99']:.2f} ms ({m['p99'] / (PERIOD_S * 1000):.2f} periods) | {m['max']:.2f} ms | {m['jitter']:.2f} ms |",
                f"| timetagged bundle: onset minus timetag | {t['median']:.2f} ms | {t['p99']:.2f} ms | | {t['spread']:.3f} ms (p99-p1) |",
            ]
        r = o["sustained"]
        lines += ["", f"Sustained: {r['sent_per_second']} messages/s for {r['sent']} messages: {r['handled']} handled, "
                  f"{r['lost']} lost, {r['flood_dropped']} dropped by the flood limit, {r['xruns']} xruns. Late bundles: {o['late_bundles']}."]
    d = results.get("decode")
    if d:
        lines += ["", "| decoder, one thread, inverse STFT included | one sound | batch of 64 | per sound in the batch |", "|---|---|---|---|"]
        for name, entry in d.items():
            if name == "comparison":
                continue
            lines.append(f"| {name} | {entry['batch_1_ms']:.2f} ms | {entry['batch_64_ms']:.1f} ms | {entry['per_sound_in_batch_64_ms']:.2f} ms |")
        c = d["comparison"]
        torch_text = (f"PyTorch eager runs the same graph in {c['pytorch_eager_graph_ms']:.2f} ms "
                      f"({c['pytorch_over_onnxruntime']:.2f}x onnxruntime's {c['onnxruntime_graph_ms']:.2f} ms)"
                      if "pytorch_eager_graph_ms" in c else
                      f"onnxruntime runs the reference graph in {c['onnxruntime_graph_ms']:.2f} ms (PyTorch not installed: no eager comparison)")
        lines += ["", f"{torch_text}; the inverse STFT takes {c['inverse_stft_ms']:.2f} ms; building the spectrum with exp(1j*phase) "
                  f"is {c['complex_from_exp_over_cos_sin']:.1f}x slower than from cos/sin in complex64."]
    import grid_bench

    lines += midi_markdown(results)
    lines += grid_bench.markdown(results)
    lines += ["", f"The dummy driver's own cycles jitter by {results['latency']['driver_cycle_jitter_ms']:.2f} ms (p99-p1) "
              "against the wall clock here; arrival times are read on that clock, so that is the floor under the jitter above."]
    lines += model_markdown(results)
    return "\n".join(lines) + "\n"


def update_benchmarks_page(table: str) -> None:
    readme = REPO / "docs" / "benchmarks.md"
    text = readme.read_text()
    begin, end = "<!-- bench:begin -->", "<!-- bench:end -->"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        _, tail = rest.split(end, 1)
        readme.write_text(f"{head}{begin}\n{table}{end}{tail}")


def load_run_realtime(seconds: float) -> int:
    """Child mode: the load run against a realtime (SCHED_FIFO) JACK server; prints JSON.

    A separate process because libjack cannot talk to two servers from one process.
    """
    from liveengine.testing.jack_rig import JackUnavailable, start_jackd

    name = f"liveengine-bench-rt-{os.getpid()}"
    try:
        server = start_jackd(name, realtime=True)
    except JackUnavailable as exc:
        print(json.dumps({"error": f"a realtime JACK server cannot start here ({exc})"}))
        return 0
    os.environ["JACK_DEFAULT_SERVER"] = name  # the audio server process inherits it
    tmp = HERE / "_work"
    tmp.mkdir(exist_ok=True)
    try:
        # Both ways of rendering: the render process is the default, threads the alternative.
        results = [{**bench_xruns(tmp, name, seconds, mode), "render_in": f"{mode}, JACK realtime (-R)"} for mode in ("process", "thread")]
    finally:
        server.stop()
    print(json.dumps(results))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="shorter runs (for a smoke test)")
    parser.add_argument("--load-run-realtime", type=float, metavar="SECONDS", help=argparse.SUPPRESS)
    parser.add_argument("--only", choices=("core", "grid", "model"), help="run one group and keep the others' figures from bench/results.json")
    args = parser.parse_args()
    from liveengine.testing.jack_rig import JackUnavailable, start_jackd

    if args.load_run_realtime:
        return load_run_realtime(args.load_run_realtime)
    previous = HERE / "results.json"
    if args.only == "model":  # no audio server needed: the model's figures alone
        results = json.loads(previous.read_text()) if previous.exists() else {}
        results["model"] = bench_model(args.quick)
        return finish(results)

    server_name = f"liveengine-bench-{os.getpid()}"
    try:
        server = start_jackd(server_name)
    except JackUnavailable as exc:
        print(f"bench: JACK cannot run here ({exc}); install jackd2 (make test does).", file=sys.stderr)
        return 1
    # Inherited by every audio server process and bench/bare_client.py: PortAudio loads only there.
    os.environ["JACK_DEFAULT_SERVER"] = server_name
    os.environ["JACK_NO_START_SERVER"] = "1"
    tmp = HERE / "_work"
    tmp.mkdir(exist_ok=True)
    try:
        results = json.loads(previous.read_text()) if args.only and previous.exists() else {}
        results.update({"date": time.strftime("%Y-%m-%d"), "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
                        "quick": args.quick})
        if args.only != "core":
            run_grid(results, tmp, server_name, args.quick)
        if args.only == "grid":
            return finish(results)
        print("bench: decode time ...", flush=True)
        results["decode"] = bench_decode(tmp, args.quick)
        print("bench: callback time with 32 voices vs a bare client's (empty, and mixing 32 voices) ...", flush=True)
        results["callback"] = bench_callback(tmp, 5.0 if args.quick else 20.0)
        print("bench: xruns under load ...", flush=True)
        load_seconds = 10.0 if args.quick else 60.0
        results["xruns"] = [bench_xruns(tmp, server_name, load_seconds, mode) for mode in ("process", "thread")]
        child = subprocess.run([sys.executable, __file__, "--load-run-realtime", str(load_seconds)], capture_output=True, text=True, timeout=600)
        realtime = json.loads(child.stdout.strip().splitlines()[-1]) if child.returncode == 0 and child.stdout.strip() else {"error": child.stderr[-300:]}
        if isinstance(realtime, list):
            results["xruns"] += realtime
        else:
            results["xruns_realtime_error"] = realtime["error"]
        print("bench: OSC ...", flush=True)
        results["osc"] = bench_osc(tmp, server_name, 30 if args.quick else 100, 2.0 if args.quick else 5.0)
        print("bench: command-to-output latency ...", flush=True)
        results["latency"] = bench_latency(tmp, server_name, 40 if args.quick else 150)
        print("bench: MIDI note to sound ...", flush=True)
        results["midi"] = bench_midi(50 if args.quick else 200)
        if not args.only:
            results["model"] = bench_model(args.quick)
        return finish(results)
    finally:
        server.stop()  # every engine (and its audio server process) was stopped before: no PortAudio client is left


def bench_midi(notes: int) -> dict:
    """bench/midi_latency.py in a child process: rtmidi must open its JACK clients before any Python JACK client."""
    child = subprocess.run([sys.executable, str(HERE / "midi_latency.py"), "--notes", str(notes)], capture_output=True, text=True, timeout=900)
    text = child.stdout
    start = text.find("{")
    if child.returncode != 0 or start < 0:
        return {"error": (child.stderr or text)[-300:]}
    return json.loads(text[start:])


def longer_windows(*folders: Path) -> list[float]:
    """The windows (seconds) of the given model folders that are longer than 1 s, read from their decoder's metadata."""
    import onnx

    windows = []
    for folder in folders:
        if (folder / "decoder.onnx").exists():
            meta = {p.key: p.value for p in onnx.load(str(folder / "decoder.onnx"), load_external_data=False).metadata_props}
            seconds = int(meta["liveengine.output_length"]) / int(meta["liveengine.sample_rate"])
            if seconds != 1.0:
                windows.append(seconds)
    return windows


def bench_model(quick: bool) -> dict:
    """bench/model_quality.py in a child: the shipped drum model against its baselines on the held-out kits.

    It needs the data set (held-out kits included), built from Debian packages on first use.
    """
    data = REPO / "training_data"
    if not (data / "sounds.npz").exists():
        print("bench: building the data set (python -m liveengine.training.data) ...", flush=True)
        built = subprocess.run([sys.executable, "-m", "liveengine.training.data", "--out", str(data)], capture_output=True, text=True, timeout=1800)
        if built.returncode != 0:
            return {"error": "the data set could not be built (apt-get install sonic-pi-samples fluid-soundfont-gm fluidsynth hydrogen-drumkits, "
                             f"then python -m liveengine.training.data): {(built.stderr or built.stdout).strip()[-300:]}"}
    for seconds in set(longer_windows(*sorted((REPO / "models_onnx").glob("drums*")))):  # models measured beside it with a longer window
        folder = data / f"{seconds:g}s"
        if not (folder / "sounds.npz").exists():
            print(f"bench: building the data set at {seconds:g} s ...", flush=True)
            built = subprocess.run([sys.executable, "-m", "liveengine.training.data", "--seconds", f"{seconds:g}", "--out", str(folder)],
                                   capture_output=True, text=True, timeout=1800)
            if built.returncode != 0:
                return {"error": f"the data set at {seconds:g} s could not be built: {(built.stderr or built.stdout).strip()[-300:]}"}
    print("bench: the drum model's quality, classifier, smoothness and speed ...", flush=True)
    # Every drum model side by side: 45 min on the 2-core machine with 16 of them, and once over 60 (killed by the
    # hour this allowed before, its results lost); three hours leave room for the models still to come.
    child = subprocess.run([sys.executable, str(HERE / "model_quality.py"), "--data", str(data)] + (["--quick"] if quick else []),
                           capture_output=True, text=True, timeout=3 * 3600)
    if child.returncode != 0:
        return {"error": (child.stderr or child.stdout).strip()[-300:]}
    return json.loads((HERE / "results_model.json").read_text())


def model_markdown(results: dict) -> list[str]:
    m = results.get("model")
    if not m:
        return []
    if "error" in m:
        return ["", f"Drum model: {m['error']}"]
    q = m["quality"]
    ours = q["ours (encode, decode)"]
    lines = ["", f"**The drum model** (`{m['model']}`, hash {m['model_hash']}) on {m['held_out_sounds']} held-out sounds "
             f"(the GPL and CC-BY-SA hydrogen kits, never trained on){', quick run' if m['quick'] else ''}: "
             "encode, decode, compare (44.1 kHz, 1 s; lower is better). Written by `bench/model_quality.py` to `bench/results_model.json`.",
             "", "| system | multi-resolution STFT (SC + log-mag) | spectral convergence | log-magnitude L1 | mel-cepstral distortion |",
             "|---|---|---|---|---|"]
    for name, r in q.items():
        bold = "**" if r is ours else ""
        lines.append(f"| {bold}{name}{bold} | {r['mrstft']:.3f} | {r['sc']:.3f} | {r['logmag']:.3f} | {r['mcd']:.2f} dB |")
    lines.append("")
    for name, r in q.items():
        if name.startswith("ours"):
            continue
        better = [k for k in ("mrstft", "mcd") if ours[k] < r[k]]
        lines.append(f"- against {name}: ours is better on {' and '.join(better) if better else 'neither distance'} "
                     f"(MR-STFT {ours['mrstft'] / r['mrstft']:.2f}x, MCD {ours['mcd'] / r['mcd']:.2f}x of its figure).")
    c, sm, sp = m["classifier"], m["smoothness"], m["speed"]
    lines += ["", f"Classifier: {c['accuracy']:.1%} on {c['labelled_held_out']} labelled held-out sounds against {c['majority_class_accuracy']:.1%} "
              f"for always answering the held-out majority class ({c['majority_class']}); confusion matrix: `bench/model_confusion_{Path(m['model']).name}.png`.", "",
              f"Smoothness over {sm['lines']} straight lines between encoded held-out sounds ({sm['points_per_line']} points): largest step over mean step "
              f"{sm['max_over_mean_step_median']:.2f} median, {sm['max_over_mean_step_mean']:.2f} mean, {sm['max_over_mean_step_worst']:.2f} worst (goal <= {sm['goal']:.0f}). "
              f"The pad plane as an 8x8 spectrogram grid: `{m['walk']['image']}`, its audio `{m['walk']['audio'].split(' ')[0]}`.", ""]
    speed = (f"Speed, one thread: one sound of its {m.get('window_s', 1.0):g} s window in {sp['batch_1_ms']:.2f} ms (goal <= 3 ms), a batch of 64 in "
             f"{sp['batch_64_ms']:.0f} ms (goal <= 150 ms)")
    if "samplevae_pipeline_one_sound_ms" in sp:
        speed += (f"; the SampleVAE-style pipeline (mel decoder {sp['samplevae_mel_decoder_ms']:.2f} ms + 60 Griffin-Lim iterations) takes "
                  f"{sp['samplevae_pipeline_one_sound_ms']:.0f} ms a sound, {sp['samplevae_pipeline_over_ours_batch_1']:.0f}x ours.")
    else:
        speed += f"; 60 Griffin-Lim iterations alone take {sp['griffin_lim_60_one_sound_ms']:.0f} ms a sound, {sp['griffin_lim_over_ours_batch_1']:.0f}x ours."
    if "encode_1_ms" in sp:
        speed += f" Encoding one sound (placing it on the map), one thread: {sp['encode_1_ms']:.0f} ms."
    return lines + [speed] + models_side_by_side(m)


def corners_text(r: dict) -> str:
    """The corners check (bench/corners_check.py) in a table cell: corners that kept their class, and kits that pass, with a
    crash at the cymbal corner and with the first cymbal (the rule until 2026-12-07: older results hold only that one)."""
    c = r.get("corners_check")
    if not c:
        return "n/a"
    if "first_cymbal" not in c:
        return f"first cymbal {c['corners_kept']}/{c['corners']}, {c['kits_passing']}/{c['kits']}"
    first = c["first_cymbal"]
    return (f"{c['corners_kept']}/{c['corners']}, {c['kits_passing']}/{c['kits']} "
            f"(first cymbal {first['corners_kept']}/{c['corners']}, {first['kits_passing']}/{c['kits']})")


def encode_text(speed: dict) -> str:
    """A model's time to encode one sound, one thread, as the side-by-side table gives it (n/a without an encoder, or
    in a results file from before it was measured)."""
    return f"{speed['encode_1_ms']:.0f} ms" if "encode_1_ms" in speed else "n/a"


def models_side_by_side(m: dict) -> list[str]:
    """The shipped drum model and each model measured beside it (model_quality.py --also), one row each, with the grid check."""
    if "grid_check" not in m:
        return []
    from liveengine.decoders.registry import by_number

    others = sorted(m.get("other_models", {}).items(), key=lambda item: by_number(item[0]))  # drums2 before drums10
    rows = [(m["model"], m["quality"]["ours (encode, decode)"], m)] + [(name, o["ours"], o) for name, o in others]
    fits = [m["quality"].get("ours (encode, fit, decode)")] + [o.get("ours_fitted") for _, o in others]
    lines = ["", "Side by side (the drum model goals in the header; the grid check reads each pad of the default 8x8 grid, raw decoder output, "
                 "in the 100 ms before the data set's 50 ms fade: see bench/grid_check.py; \"fitted\": each held-out sound's point fitted "
                 "to it from the encoder's mean, as corner files are placed, liveengine/decoders/fit.py):", "",
             "| model | window | MR-STFT (<= 1.40) | MCD | MR-STFT, MCD fitted | classifier (>= 70%) | worst class (>= 40%) | worst smoothness line (<= 3) | "
             "pads on a noise bed (0) | pads cut (0) | corners kept, kits passing (every kit; a crash at the cymbal corner) | one sound (<= 3 ms) | 64 sounds (<= 150 ms) | "
             "encode one sound |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for (name, q, r), f in zip(rows, fits):
        c, g, sp = r["classifier"], r["grid_check"], r["speed"]
        worst = c.get("worst_class")
        worst_text = f"{worst} {c['per_class_accuracy'][worst]:.0%}" if worst else "n/a"
        fitted = f"{f['mrstft']:.3f}, {f['mcd']:.2f} dB" if f else "n/a"
        lines.append(f"| `{name}` | {r.get('window_s', 1.0):g} s | {q['mrstft']:.3f} | {q['mcd']:.2f} dB | {fitted} | {c['accuracy']:.1%} | {worst_text} | "
                     f"{r['smoothness']['max_over_mean_step_worst']:.2f} | {g['noise_bed_pads']} | {g['cut_pads']} | {corners_text(r)} | "
                     f"{sp['batch_1_ms']:.2f} ms | {sp['batch_64_ms']:.0f} ms | {encode_text(sp)} |")
    lines.append("")
    data = m.get("grid_check_of_held_out_sounds")
    if data:
        lines.append("- The held-out sounds themselves, by the same check (on a bed / cut / sounds): "
                     + ", ".join(f"{name} {d['noise_bed']}/{d['cut']}/{d['sounds']}" for name, d in data.items())
                     + ": real cymbals, open hats and toms ring past the 1 s window.")
    for key, d in m.items():
        if key.startswith("grid_check_of_held_out_sounds_"):
            window = key.rsplit("_", 1)[-1]
            lines.append(f"- The held-out sounds at a {window} window (on a bed / cut / sounds): "
                         + ", ".join(f"{name} {x['noise_bed']}/{x['cut']}/{x['sounds']}" for name, x in d.items()) + ".")
    for key in sorted({k for _, _, r in rows for k in r if k.startswith("ours_at_")}):
        window = key[len("ours_at_"):]
        lines.append(f"- Over a {window} window (each model's whole output, zero-padded to {window}, against the held-out sounds cut at {window}): "
                     + ", ".join(f"`{name}` MR-STFT {r[key]['mrstft']:.3f}, MCD {r[key]['mcd']:.2f} dB" for name, _, r in rows if key in r)
                     + ". A model with a longer window is in the MR-STFT column by its first second (faded where the 1 s data set fades) "
                       "against the 1 s held-out sounds, as the 1 s models are.")
    for name, _, r in rows:
        price = r.get("release_price")
        if price:
            lines.append(f"- `{name}` with a release ({price['release']}) on every sound, the grid goals' price in a 1 s window: "
                         f"MR-STFT {price['ours']['mrstft']:.3f}, {price['noise_bed_pads']} pads on a bed, {price['cut_pads']} cut.")
    return lines


def midi_markdown(results: dict) -> list[str]:
    m = results.get("midi")
    if not m:
        return []
    if "error" in m:
        return ["", f"MIDI: {m['error']}"]
    lines = ["", "| MIDI note to first audible frame (JACK) | in-graph median | p99 | max | jitter (p99-p1) | + reported output latency |",
             "|---|---|---|---|---|---|"]
    names = {"constant": "rtmidi, constant", "lowest-latency": "rtmidi, lowest-latency"}
    for mode in ("constant", "lowest-latency", "server, constant", "server, constant, performance load"):
        if mode not in m:
            continue
        r = m.get(mode, {})
        if "error" in r or "in_graph" not in r:
            lines.append(f"| {names.get(mode, mode)} | {r.get('error', 'not measured')} | | | | |")
            continue
        g = r["in_graph"]
        lines.append(f"| {names.get(mode, mode)} | {g['ms']['median']:.2f} ms ({g['periods']['median']:.2f} periods) | {g['ms']['p99']:.2f} ms ({g['periods']['p99']:.2f}) | "
                     f"{g['ms']['max']:.2f} ms | {g['jitter_ms']:.2f} ms | {r.get('reported_output_latency_ms', 0):.2f} ms |")
    flood = m.get("constant", {}).get("flood")
    if flood:
        lines += ["", f"MIDI flood ({flood.get('seconds')} s of notes and clock): {flood.get('sent')} sent, {flood.get('handled')} handled, "
                  f"{flood.get('flood_dropped')} dropped and counted, {flood.get('xruns', 'n/a')} xruns."]
    lines.append("Goals: in-graph median <= 1 period, p99 <= 2 periods, jitter <= 1 period; read by the audio server: the same latency for every note "
                 "(jitter <= 2 samples), one period in constant timing. rtmidi stamps JACK MIDI per cycle, so finer timing is not available from it.")
    return lines


def run_grid(results: dict, tmp: Path, server_name: str, quick: bool) -> None:
    import grid_bench as grid  # bench/ is on sys.path: this file runs as a script

    print("bench: grid render ...", flush=True)
    results["grid_render"] = grid.bench_grid_render(tmp, quick)
    results["mapping_switch"] = grid.bench_mapping_switch(tmp, quick)
    print("bench: library fit ...", flush=True)
    results["library_fit"] = grid.bench_library_fit(tmp, quick)
    print("bench: on-demand hits ...", flush=True)
    results["on_demand"] = grid.bench_on_demand(tmp, server_name, 20 if quick else 60)
    print("bench: a performance under a knob sweep ...", flush=True)
    results["performance"] = grid.bench_performance(tmp, server_name, 15.0 if quick else 60.0)


def finish(results: dict) -> int:
    (HERE / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    table = markdown(results)
    (HERE / "results.md").write_text("# liveengine benchmark results\n\n" + table)
    update_benchmarks_page(table)
    print(table)
    return 0


if __name__ == "__main__":
    from liveengine.job_lock import run_exclusively  # never beside a training run: each skews the other

    sys.exit(run_exclusively("the benchmarks (bench/run.py)", main))
