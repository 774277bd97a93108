"""`liveengine train` on a producer-sized folder: 200 sounds, the real budget, one core, niced.

    python bench/train_own.py [--minutes 20] [--sounds 200] [--smooth-weight W] [--out FILE]

The folder is built from the kits the drum model may train on (liveengine.training.data.held_in_folder:
Sonic Pi's drum samples and the CC0/CC-BY hydrogen kits, a subfolder per class, unlabelled
one-shots and the top of a drum break at the top level); the held-out GPL and CC-BY-SA kits are
never used. Then `liveengine train FOLDER --minutes M` runs as a user runs it, in a child process
under `nice -n 10` with one torch thread; its wall-clock and CPU time are measured (the machine is
shared, so the two differ). Reported from the exported model's training.json: the validation
figures of the shipped drum model and of the fine-tuned one on the same held-back sounds (MR-STFT
distance: spectral convergence + log-magnitude L1; lower is closer), per-sound wins, the distinct
files among the 8x8 pads' nearest training sounds, how the pads end (noise beds and cuts, with the
decay tail and without it), and whether `liveengine check` passes.
Writes bench/results_train_own.json and bench/train_own_grid.png (the model's grid.png). Refuses to start while a training run or another benchmark
holds the heavy-job lock (liveengine/job_lock.py); the training it starts runs under its lock.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))


def per_sound(work: Path, new_files: list[str]) -> dict:
    """Each validation sound encoded and decoded by the shipped model and by the trained one (MR-STFT distance, lower is
    closer): mean figures and per-sound wins, for all of them, for the loop hits the drum model never heard, and for
    the drum one-shots it trained on."""
    import numpy as np
    import torch

    from liveengine.resources import checkpoints_dir
    from liveengine.training import own
    from liveengine.training.folder_data import FolderData
    from liveengine.training.model import MultiResolutionSTFTLoss
    from liveengine.training.train import reconstruction_figures

    torch.set_num_threads(1)
    data = FolderData.load(work / "data.npz")
    validation = data.audio[data.validation]
    new = np.isin(data.files[data.validation], new_files)
    mrstft = MultiResolutionSTFTLoss()
    shipped, _ = own.new_model(data.class_names, checkpoints_dir() / own.SHIPPED)
    trained, _ = own.new_model(data.class_names, None)
    trained.load_state_dict(torch.load(work / "best.pt", map_location="cpu", weights_only=False))
    a = np.array([reconstruction_figures(shipped, mrstft, validation[i:i + 1])["mrstft"] for i in range(len(validation))])
    b = np.array([reconstruction_figures(trained, mrstft, validation[i:i + 1])["mrstft"] for i in range(len(validation))])
    out = {}
    for label, mask in (("all", np.ones(len(a), bool)), ("new_to_the_drum_model", new), ("trained_on_by_the_drum_model", ~new)):
        out[label] = {"sounds": int(mask.sum()), "shipped_mrstft": round(float(a[mask].mean()), 4), "trained_mrstft": round(float(b[mask].mean()), 4),
                      "trained_closer": int((b[mask] < a[mask]).sum()), "median_ratio": round(float(np.median(b[mask] / a[mask])), 3)}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=20.0)
    parser.add_argument("--sounds", type=int, default=200)
    parser.add_argument("--smooth-weight", default=None, help="passed to liveengine train (default: its own, 0.3 fine-tuning)")
    parser.add_argument("--work", type=Path, default=HERE / "_work" / "train_own")
    parser.add_argument("--out", type=Path, default=HERE / "results_train_own.json")
    args = parser.parse_args(argv)
    from liveengine.training.data import held_in_folder

    if args.work.exists():
        shutil.rmtree(args.work)
    folder, model = args.work / "sounds", args.work / "own"
    built = held_in_folder(folder, args.sounds)
    print(f"bench: {built['sounds']} sounds in {built['files']} files ({built['from']}) in {folder}", flush=True)

    extra = ["--smooth-weight", args.smooth_weight] if args.smooth_weight is not None else []
    command = ["nice", "-n", "10", sys.executable, "-m", "liveengine", "train", str(folder), "--out", str(model), "--minutes", str(args.minutes),
               *extra]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    (args.work / "train.log").write_text(run.stdout + run.stderr)
    if run.returncode != 0:
        print(f"bench: liveengine train failed:\n{run.stderr[-2000:]}", file=sys.stderr)
        return 1
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    figures = json.loads((model / "training.json").read_text())
    check = subprocess.run([sys.executable, "-m", "liveengine", "check", str(model.parent / f"{model.name}.toml")], cwd=ROOT,
                           capture_output=True, text=True, timeout=600)
    t, g = figures["training"], figures["grid"]
    results = {
        "date": time.strftime("%Y-%m-%d"), "machine": f"{platform.machine()}, {os.cpu_count()} cores (shared), Python {platform.python_version()}",
        "command": "nice -n 10 liveengine train FOLDER --minutes " + f"{args.minutes:g}" + "".join(f" {e}" for e in extra),
        "folder": built, "data": {k: figures["data"][k] for k in ("sounds", "train", "validation", "classes", "per_class", "skipped", "cut_to_1s")},
        "command_wall_minutes": round(wall / 60, 2), "command_cpu_minutes": round(cpu / 60, 2),
        "steps": t["step"], "training_minutes": round(t["train_seconds"] / 60, 2), "training_loop_wall_minutes": round(t["wall_seconds"] / 60, 2),
        "stopped": t["stopped"], "validation": {"shipped": t["history"][0], "trained_best": t["best"], "checks": t["history"]},
        "per_sound": per_sound(model.parent / f"{model.name}-training", built["new_files"]),
        "smooth_weight": t["runs"][-1].get("smooth_weight"), "smoothness": figures.get("smoothness"),
        "grid": g, "tail": figures.get("tail"), "classifier": figures.get("classifier"), "plane": figures["plane"],
        "check_passes": check.returncode == 0 and check.stdout.strip().endswith("ok"),
    }
    args.out.write_text(json.dumps(results, indent=1) + "\n")
    shutil.copyfile(model / "grid.png", HERE / "train_own_grid.png")  # the trained model's 8x8 pads, for docs/benchmarks.md
    v = results["validation"]
    print(f"bench: {results['steps']} steps; command {results['command_wall_minutes']} min wall, {results['command_cpu_minutes']} min CPU; "
          f"validation MR-STFT shipped {v['shipped']['mrstft']} -> trained {v['trained_best']['mrstft']}; closer on "
          + ", ".join(f"{k} {e['trained_closer']} of {e['sounds']}" for k, e in results["per_sound"].items())
          + f"; pads' nearest files {g['nearest_distinct_files']} (from their points {g['point_nearest_distinct_files']}); "
          f"worst smoothness line {results['smoothness']['start'].get('worst')} -> {results['smoothness']['trained'].get('worst')}; "
          + "pads on a noise bed / cut " + " -> ".join(f"{e['noise_bed_pads']} / {e['cut_pads']}" for e in
                                                     (g["endings"].get("without_tail"), g["endings"]["exported"]) if e) + " (without -> with the decay tail); "
          f"check {'ok' if results['check_passes'] else 'FAILED'}", flush=True)
    return 0


if __name__ == "__main__":
    from liveengine.job_lock import run_exclusively  # the training it runs inherits the lock

    sys.exit(run_exclusively("the training benchmark (bench/train_own.py)", main))
