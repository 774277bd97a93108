"""A live patch switch between two shipped patches over one model (default and grooves, both `drums19`): from
`Engine.load_patch` to every pad of the new grid rendered, with the playing model reused and, as the baseline,
loaded again as every switch did before (a trial load in a child process, then the load), in the same process.

    python bench/patch_switch.py [--rounds 5]

The engine runs on the offline backend: a switch is control-side work (the model, the render process, the grid),
the audio device plays on meanwhile. Rounds alternate the two ways. Writes bench/results_patch_switch.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))


def switch(engine, patch: Path) -> float:
    began = time.perf_counter()
    if not engine.load_patch(patch) or not engine.wait_rendered(timeout=120):
        raise SystemExit(f"the switch to {patch.name} failed: {engine.reports[-1]}")
    return time.perf_counter() - began


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", type=Path, default=HERE / "results_patch_switch.json")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        raise SystemExit(f"--rounds {args.rounds}: give 1 or more")
    from liveengine.audio.offline import OfflineBackend
    from liveengine.engine import Engine
    from liveengine.engine import engine as engine_module
    from liveengine.patch import load_patch

    patches = [ROOT / "patches" / "default.toml", ROOT / "patches" / "grooves.toml"]
    engine = Engine(load_patch(patches[0]))
    engine.wait_rendered(timeout=120)
    o = engine.options
    engine.start(OfflineBackend(o.samplerate, o.blocksize, o.channels))
    reused = engine_module.loaded_decoder
    times: dict[str, list[float]] = {"reused": [], "loaded again (before)": []}
    try:
        for round_ in range(args.rounds):
            for way in times:
                engine_module.loaded_decoder = reused if way == "reused" else (lambda patch, playing: None)
                for patch in (patches[1], patches[0]):
                    times[way].append(switch(engine, patch))
    finally:
        engine_module.loaded_decoder = reused
        engine.stop()
    medians = {way: statistics.median(t) for way, t in times.items()}
    result = {"date": time.strftime("%Y-%m-%d"), "machine": f"{platform.machine()}, Python {platform.python_version()}",
              "model": engine.instrument.decoder.name, "switches_each": len(times["reused"]),
              "median_s": medians, "max_s": {way: max(t) for way, t in times.items()},
              "before_over_now": medians["loaded again (before)"] / medians["reused"]}
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
