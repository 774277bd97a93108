"""`liveengine play` start-up to the full grid rendered and the device playing, now and at an older revision.

    python bench/startup.py [--runs 5] [--before REV]

Each run starts `liveengine play PATCH --seconds 1 --no-osc --no-midi` on a JACK dummy server (48 kHz,
128 frames) and times, from the process's start, the line that says it plays: `play` prints it once
every pad of the grid is rendered and the audio is running. The default patch (the drum model). With
`--before REV` the same runs are made with the code of that revision (a temporary git worktree), in
the same process and on the same JACK server, as the baseline. Writes bench/results_startup.json.

Bytecode is cached as on a performer's machine (a first start after an edit or install compiles every
module; every start after it reads the cache): each tree's modules are compiled into a cache folder
of this run's own by one untimed start, whatever PYTHONDONTWRITEBYTECODE says in the caller's shell.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


CACHE = Path(tempfile.mkdtemp(prefix="liveengine-startup-pyc-"))  # bytecode of both trees, removed at the end
WARMED: set[Path] = set()  # trees whose bytecode is in CACHE


def one_run(code: Path) -> dict:
    """Seconds from spawn to the 'playing on' line, with `code` first on the import path."""
    env = {**os.environ, "PYTHONPATH": str(code), "PYTHONUNBUFFERED": "1", "PYTHONPYCACHEPREFIX": str(CACHE)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    began = time.monotonic()
    process = subprocess.Popen([sys.executable, "-m", "liveengine", "play", str(code / "patches" / "default.toml"), "--seconds", "1",
                                "--no-osc", "--no-midi", "--no-autosave"],
                               cwd=tempfile.gettempdir(), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    playing = None
    lines = []
    for line in process.stdout:
        lines.append(line)
        if playing is None and line.startswith("playing on"):
            playing = time.monotonic() - began
    process.wait(timeout=120)
    if playing is None or process.returncode != 0:
        return {"error": "".join(lines)[-600:]}
    return {"seconds": playing}


def measure(code: Path, runs: int) -> dict:
    times = []
    if code not in WARMED:
        WARMED.add(code)
        one_run(code)  # untimed: compiles this tree's modules into the cache
    for _ in range(runs):
        result = one_run(code)
        if "error" in result:
            return result
        times.append(result["seconds"])
    return {"runs": [round(t, 3) for t in times], "median_s": round(statistics.median(times), 3)}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--before", help="a git revision to measure the same way, as the baseline")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from liveengine.testing.jack_rig import start_jackd

    name = f"bench-startup-{os.getpid()}"
    server = start_jackd(name)
    os.environ["JACK_DEFAULT_SERVER"] = name
    results: dict = {"date": time.strftime("%Y-%m-%d"), "runs": args.runs}
    old = None
    try:
        if args.before:
            old = Path(tempfile.mkdtemp(prefix="liveengine-before-"))
            subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(old), args.before], check=True,
                           capture_output=True)
            # Alternate the two, so a machine that gets busier affects both alike.
            now, before = [], []
            for _ in range(args.runs):
                before.append(measure(old, 1))
                now.append(measure(ROOT, 1))
            results["before"] = {"revision": args.before, **_merge(before)}
            results["now"] = _merge(now)
        else:
            results["now"] = measure(ROOT, args.runs)
    finally:
        server.stop()
        shutil.rmtree(CACHE, ignore_errors=True)
        if old is not None:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(old)], capture_output=True)
    if "before" in results and "median_s" in results["now"] and "median_s" in results["before"]:
        results["now_over_before"] = round(results["now"]["median_s"] / results["before"]["median_s"], 3)
    (HERE / "results_startup.json").write_text(json.dumps(results, indent=1) + "\n")
    print(json.dumps(results, indent=1))
    return 0


def _merge(single_runs: list[dict]) -> dict:
    errors = [r["error"] for r in single_runs if "error" in r]
    if errors:
        return {"error": errors[0]}
    times = [r["runs"][0] for r in single_runs]
    return {"runs": times, "median_s": round(statistics.median(times), 3)}


if __name__ == "__main__":
    sys.exit(main())
