"""The control for the audio callback figures: a bare PortAudio client alone in its process.

    python bench/bare_client.py SECONDS [--mix 32] [--warmup 1.0]

The engine's audio callback runs in an audio server process of its own, so its
baseline must too: this script opens PortAudio's JACK output (48 kHz, 128-frame
blocks, 2 channels, the device the audio server picks for "JACK") with a callback
that only fills the block with silence, or with `--mix N` mixes N preallocated
voices with numpy (one multiply and one add per voice per block), and records
its own duration and its lateness (PortAudio's stream clock against the cycle's
start, as the engine's backend reads it) per block into preallocated arrays. It
counts the blocks PortAudio flags as output underflows. After SECONDS (plus the
discarded warm-up) it prints one JSON line: the percentiles as fractions of the
period (median, p99, p99.9, max, n) and the xruns.

Run by bench/run.py with JACK_DEFAULT_SERVER naming the bench's JACK server.
PortAudio's JACK client keeps its default name (not `liveengine`).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

RATE, PERIOD, CHANNELS = 48000, 128, 2
PERIOD_S = PERIOD / RATE


def percentiles(values: np.ndarray, scale: float) -> dict:
    values = np.asarray(values) / scale
    return {"median": float(np.median(values)), "p99": float(np.percentile(values, 99)),
            "p99.9": float(np.percentile(values, 99.9)), "max": float(values.max()), "n": int(len(values))}


class BareCallback:
    """Everything the callback touches is made here; the callback itself only indexes and writes."""

    def __init__(self, capacity: int, voices: int) -> None:
        self.seconds = np.zeros(capacity, dtype=np.float64)
        self.lateness = np.zeros(capacity, dtype=np.float64)
        self.count = 0  # blocks called back (may pass capacity: later ones are not recorded)
        self.xruns = 0
        self.stream = None  # set once the stream exists
        self.voices = voices
        if voices:
            rng = np.random.default_rng(0)
            length = RATE  # one second a voice, looped
            decay = np.exp(-np.arange(length) / (0.3 * RATE))
            self.samples = (rng.standard_normal((voices, length)) * decay * 0.1).astype(np.float32)
            self.rows = [self.samples[v] for v in range(voices)]  # views made once
            self.gains = [float(g) for g in rng.uniform(0.2, 1.0, voices)]
            self.positions = [int(p) for p in rng.integers(0, length - 4096, voices)]
            self.length = length
            self.mix = np.zeros(4096, dtype=np.float32)
            self.scratch = np.zeros(4096, dtype=np.float32)

    def __call__(self, outdata, frames, time_info, status) -> None:
        # Lateness as liveengine's PortAudio backend reads it, before the timed part.
        current = time_info.currentTime
        stream = self.stream
        lateness = stream.time - current if current > 0.0 and stream is not None else 0.0
        entered = time.perf_counter()
        if status.output_underflow:
            self.xruns += 1
        if self.voices:
            mix = self.mix[:frames]
            scratch = self.scratch[:frames]
            mix.fill(0.0)
            rows, gains, positions, length = self.rows, self.gains, self.positions, self.length
            for v in range(self.voices):
                position = positions[v]
                if position + frames > length:
                    position = 0
                np.multiply(rows[v][position : position + frames], gains[v], out=scratch)
                mix += scratch
                positions[v] = position + frames
            outdata[:, 0] = mix
            outdata[:, 1] = mix
        else:
            outdata.fill(0.0)
        i = self.count
        if i < len(self.seconds):
            self.seconds[i] = time.perf_counter() - entered
            self.lateness[i] = lateness
        self.count = i + 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("seconds", type=float, help="seconds measured (after the warm-up)")
    parser.add_argument("--mix", type=int, default=0, metavar="VOICES", help="mix this many preallocated voices with numpy in the callback")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds run first and left out of the figures (default 1)")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    import sounddevice as sd

    from liveengine.audio.sounddevice_backend import find_output_device

    skip = int(args.warmup * RATE / PERIOD)
    capacity = int((args.warmup + args.seconds) * RATE / PERIOD * 1.2) + 1000
    callback = BareCallback(capacity, args.mix)
    try:
        device = find_output_device(sd, "JACK")  # the same match the audio server makes
        stream = sd.OutputStream(device=device, samplerate=RATE, blocksize=PERIOD, channels=CHANNELS, dtype="float32",
                                 callback=callback, latency="low")
        callback.stream = stream
        stream.start()
        time.sleep(args.warmup)
        xruns_before = callback.xruns
        time.sleep(args.seconds)
        stream.stop()
        stream.close()
    except Exception as exc:  # noqa: BLE001 - the runner reports whatever PortAudio said
        print(json.dumps({"error": f"{type(exc).__name__}: {exc}"}))
        return 1
    recorded = min(callback.count, capacity)
    if recorded <= skip:
        print(json.dumps({"error": f"only {callback.count} callbacks in {args.warmup + args.seconds:g} s"}))
        return 1
    seconds, lateness = callback.seconds[skip:recorded], callback.lateness[skip:recorded]
    print(json.dumps({"callback": percentiles(seconds, PERIOD_S), "lateness": percentiles(lateness, PERIOD_S),
                      "xruns": callback.xruns - xruns_before, "voices": args.mix, "blocks": callback.count - skip,
                      "process": "own (bench/bare_client.py)"}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
