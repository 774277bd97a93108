"""Decode speed of sound models side by side, the way bench/model_quality.py times them, without its quality run.

    python bench/decode_speed.py models_onnx/drums5 models_onnx/drums8 [more model folders] [--rounds 10]

One thread, the inverse STFT included: one sound and a batch of 64 at each model's latent mean, the models
in turn round after round (model_quality.alternated_speed), so the machine's drift slows them alike and the
ratios against the first model hold. Writes bench/results_decode_speed.json. For a change to one graph (the
decay tail's), run the old folder and the new one in the same call. Refuses to start while a training run
or another benchmark holds the heavy-job lock (liveengine/job_lock.py).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))


def main(argv: list[str] | None = None) -> int:
    from model_quality import alternated_speed

    from liveengine.decoders.onnx_decoder import OnnxDecoder
    from liveengine.errors import LiveEngineError

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("models", type=Path, nargs="+", help="model folders; the first is the baseline of the ratios")
    parser.add_argument("--rounds", type=int, default=10, help="rounds of the models in turn (default 10)")
    parser.add_argument("--out", type=Path, default=HERE / "results_decode_speed.json")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error(f"--rounds {args.rounds}: allowed: 1 or more")
    entries = []
    for folder in args.models:
        try:
            info = OnnxDecoder(folder, threads=1).info
        except LiveEngineError as exc:
            parser.error(f"{folder}: {exc.message}")
        entries.append(({"model": str(folder), "name": info.name, "window_s": info.output_length / info.sample_rate}, folder,
                        np.asarray(info.latent_mean, np.float32)[None], None))  # decoding only: no sound to encode
    alternated_speed(entries, quick=False, rounds=args.rounds)
    base = entries[0][0]["speed"]
    for results, *_ in entries:
        s = results["speed"]
        s["batch_1_over_first"] = round(s["batch_1_ms"] / base["batch_1_ms"], 3)
        s["batch_64_over_first"] = round(s["batch_64_ms"] / base["batch_64_ms"], 3)
        print(f"{results['model']}: {s['batch_1_ms']:.2f} ms for one sound ({s['batch_1_over_first']:.3f}x), "
              f"{s['batch_64_ms']:.1f} ms for 64 ({s['batch_64_over_first']:.3f}x)", flush=True)
    args.out.write_text(json.dumps({"date": time.strftime("%Y-%m-%d %H:%M"), "machine": f"{platform.machine()}, Python {platform.python_version()}",
                                    "models": [e[0] for e in entries]}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    from liveengine.job_lock import run_exclusively

    sys.exit(run_exclusively("the decode speed benchmark (bench/decode_speed.py)", main))
