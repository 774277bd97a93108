"""Two checkpoints of one model mixed weight by weight: a model between a run and the run it started from.

    python -m liveengine.training.soup --from checkpoints/drums19.pt --with checkpoints/drums22.pt \
        --weight 0.5 --checkpoint checkpoints/drums23.pt

A decoder tuned further from a checkpoint (reencode --from) learns what its new loss asks and forgets some of what it
knew; the straight line between the two sets of weights often keeps both, and lands nearer held-out sounds than either
end (WiSE-FT, Wortsman et al. 2022: "Robust fine-tuning of zero-shot models"; model soups, the same authors). Each
floating-point tensor of the result is (1 - weight) x `--from`'s + weight x `--with`'s; integer tensors (batch-norm
counters) are `--from`'s. Both must be the same model (config, tensor names and shapes): a run and one tuned from it.
The optimizer's moments belong to neither point, so the result has none (a run resumed from it starts them afresh).
Measure it as any checkpoint: bench/corners_by_ear.py, then tail.py, class_head.py and bench/model_quality.py.
"""

from __future__ import annotations

import argparse
import os
import pickle
from pathlib import Path


def mixed(first: dict, second: dict, weight: float, names: tuple[str, str]) -> dict:
    """The checkpoint `weight` of the way from `first` to `second` (both loaded checkpoints of one model)."""
    if first["config"] != second["config"]:
        differ = sorted(k for k in set(first["config"]) | set(second["config"]) if first["config"].get(k) != second["config"].get(k))
        raise ValueError(f"{names[0]} and {names[1]} are not the same model (their configs differ in {', '.join(differ)}); "
                         "allowed: a checkpoint and one trained on from it")
    a, b = first["model"], second["model"]
    if a.keys() != b.keys() or any(a[k].shape != b[k].shape for k in a):
        odd = sorted(set(a) ^ set(b)) or sorted(k for k in a if a[k].shape != b[k].shape)
        raise ValueError(f"{names[0]} and {names[1]} hold different tensors ({', '.join(odd[:3])}); "
                         "allowed: a checkpoint and one trained on from it")
    weights = {k: (1 - weight) * a[k] + weight * b[k] if a[k].is_floating_point() else a[k].clone() for k in a}
    steps = [int(c["state"]["step"]) for c in (first, second)]
    state = {"step": 0, "train_seconds": sum(float(c["state"]["train_seconds"]) for c in (first, second)), "history": [],
             "threads": first["state"].get("threads"),
             "soup": {"from": names[0], "with": names[1], "weight": weight, "steps": steps}}
    return {"config": first["config"], "model": weights,
            "optimizer": {"state": {}, "param_groups": first["optimizer"]["param_groups"]}, "state": state}


def main(argv: list[str] | None = None) -> int:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--from", dest="first", type=Path, required=True, help="the checkpoint at weight 0")
    parser.add_argument("--with", dest="second", type=Path, required=True, help="the checkpoint at weight 1 (trained on from --from)")
    parser.add_argument("--weight", type=float, required=True, help="how far from --from towards --with, 0 to 1")
    parser.add_argument("--checkpoint", type=Path, required=True, help="where the mixed checkpoint is written")
    args = parser.parse_args(argv)
    if not 0.0 <= args.weight <= 1.0:
        parser.error(f"--weight {args.weight:g} is outside 0 to 1 (allowed: 0 is --from, 1 is --with)")
    if args.checkpoint.resolve() in (args.first.resolve(), args.second.resolve()):
        parser.error(f"--checkpoint {args.checkpoint} would overwrite one of the two it mixes; allowed: a new file")
    loaded = []
    for path in (args.first, args.second):
        try:
            checkpoint = torch.load(path, map_location="cpu", weights_only=False)
            if not isinstance(checkpoint, dict) or not {"config", "model", "state", "optimizer"} <= checkpoint.keys():
                raise ValueError("it holds no config, model, optimizer and state")
        except (OSError, ValueError, RuntimeError, EOFError, KeyError, AttributeError, pickle.UnpicklingError) as error:
            parser.error(f"{path} is not a training checkpoint ({error}); allowed: a checkpoints/*.pt that train.py or reencode.py wrote")
        loaded.append(checkpoint)
    try:
        result = mixed(*loaded, args.weight, (args.first.name, args.second.name))
    except ValueError as error:
        parser.error(str(error))
    args.checkpoint.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.checkpoint.with_suffix(".tmp")
    torch.save(result, tmp)
    os.replace(tmp, args.checkpoint)
    print(f"wrote {args.checkpoint}: {1 - args.weight:g} x {args.first.name} + {args.weight:g} x {args.second.name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
