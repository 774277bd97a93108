"""A live patch switch, from `Engine.load_patch` to every pad of the new grid rendered, now and as before, in the
same process:

- between two shipped patches over one model (default and grooves, both `drums19`): the playing model reused, against
  loading it again as every switch did before (a trial load in a child process, then the load);
- between two models (the default patch and a copy of it playing `drums16`), each loaded before: the load alone,
  against a trial load in a child before each load as before.

    python bench/patch_switch.py [--rounds 5]

The engine runs on the offline backend: a switch is control-side work (the model, the render process, the grid),
the audio device plays on meanwhile. Rounds alternate now and before. Writes bench/results_patch_switch.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import statistics
import sys
import tempfile
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
    from liveengine.decoders import trial_load
    from liveengine.engine import Engine
    from liveengine.engine import engine as engine_module
    from liveengine.patch import load_patch

    default = ROOT / "patches" / "default.toml"
    other = Path(tempfile.mkdtemp(prefix="liveengine-switch-")) / "other.toml"  # the default patch on drums16, no demo score
    other.write_text("\n".join(line for line in default.read_text().replace('decoder = "drums19"', 'decoder = "drums16"').splitlines()
                               if not line.startswith("score =")) + "\n")
    pairs = {"one model": (ROOT / "patches" / "grooves.toml", default), "two models": (other, default)}
    engine = Engine(load_patch(default))
    engine.wait_rendered(timeout=120)
    o = engine.options
    engine.start(OfflineBackend(o.samplerate, o.blocksize, o.channels))
    reused, remembered = engine_module.loaded_decoder, dict(trial_load._LOADED)
    times: dict[str, dict[str, list[float]]] = {pair: {"now": [], "before": []} for pair in pairs}
    try:
        for pair, patches in pairs.items():
            switch(engine, patches[0])  # each model loaded once before the timed rounds
            switch(engine, patches[1])
            for round_ in range(args.rounds):
                for way in ("now", "before"):
                    engine_module.loaded_decoder = reused if way == "now" else (lambda patch, playing: None)
                    for patch in patches:
                        if way == "before":
                            trial_load._LOADED.clear()  # every switch tried its model in a child
                        times[pair][way].append(switch(engine, patch))
    finally:
        engine_module.loaded_decoder = reused
        trial_load._LOADED.update(remembered)
        engine.stop()
        shutil.rmtree(other.parent, ignore_errors=True)
    result = {"date": time.strftime("%Y-%m-%d"), "machine": f"{platform.machine()}, Python {platform.python_version()}",
              "switches_each": 2 * args.rounds}
    for pair, ways in times.items():
        medians = {way: statistics.median(t) for way, t in ways.items()}
        result[pair] = {"median_s": medians, "max_s": {way: max(t) for way, t in ways.items()},
                        "before_over_now": medians["before"] / medians["now"]}
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
