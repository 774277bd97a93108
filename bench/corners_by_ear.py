"""The corners check heard by several ears, on a training checkpoint (before any export): how a decoder renders the
middles of held-out kits' grids, judged by listeners that did not all train it.

    python bench/corners_by_ear.py --checkpoint checkpoints/drums19.pt --around models_onnx/drums19 \
        --listeners checkpoints/drums19_listener.pt checkpoints/drums16_listener.pt checkpoints/drums12_listener.pt \
        [--quads 4] [--out bench/results_corners_by_ear.json]

bench/corners_check.py names each pad by a model's exported class head at its point; a decoder taught what a grid's
blends sound like (`reencode --hear-blends`) trains against one listener, so that listener alone could be fooled.
Here every pad of each grid is rendered by the checkpoint's decoder and heard by each listener (`class_head.py`'s
`<stem>_listener.pt`: it hears the render's log-mel picture, as the class head's listener does), and the check's rule
(`corners_check.judge`: 3 corners kept and no class over 32 of 64 pads) is applied per ear. Grids: each held-out
kit's corners as the check picks them (kick, snare, closed hat, a crash), and `--quads` more per kit, one of each
class drawn from the kit (seeded). Corners are placed at the checkpoint's encoder means (no fit: no export needed)
and laid by the engine's CornersMapping about `--around`'s pad plane mean, as the engine lays them.
Beside it, the held-out distance at the encoder means (MR-STFT, the training loss's, over all held-out sounds of the
1 s data set): what the grids cost, if anything. PyTorch (CPU) is needed, as for training; the engine never is.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.corners_check import CORNER_CLASSES, instrument_names, judge, kit_corners  # noqa: E402


def drawn_quads(kit_rows: list[int], classes: np.ndarray, names: list[str], count: int, rng: np.random.Generator) -> list[list[int]]:
    """`count` quads of a kit's rows, one of each corner class drawn at random (CORNER_CLASSES order)."""
    pools = [[r for r in kit_rows if classes[r] == names.index(c)] for c in CORNER_CLASSES]
    return [[int(rng.choice(pool)) for pool in pools] for _ in range(count)]


def pad_points(corners: np.ndarray, origin: np.ndarray) -> np.ndarray:
    """The 64 pad points of the 8x8 corners grid (pad order) between `corners` [4, latent], as the engine lays them."""
    from liveengine.grid.anchors import pad_points as engine_pad_points
    from liveengine.grid.mappings import CornersMapping, GridSetting

    return engine_pad_points(GridSetting(8, 8, "corners"), CornersMapping(corners.astype(np.float64), origin.astype(np.float64)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", type=Path, required=True, help="a drum model's training checkpoint (checkpoints/*.pt)")
    parser.add_argument("--around", type=Path, required=True, help="a model folder whose pad plane mean the grid's arcs go around")
    parser.add_argument("--listeners", type=Path, nargs="+", required=True, help="class_head.py listeners (<stem>_listener.pt)")
    parser.add_argument("--data", type=Path, default=REPO / "training_data")
    parser.add_argument("--quads", type=int, default=4, help="drawn quads per kit beside its corners (default 4)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results_corners_by_ear.json")
    args = parser.parse_args(argv)
    if args.quads < 0:
        parser.error(f"--quads {args.quads}: allowed: 0 or more")
    for path in [args.checkpoint, *args.listeners]:
        if not path.is_file():
            parser.error(f"{path}: no such file; give a checkpoint and class_head.py's listeners")

    import torch

    from liveengine.training.class_head import listening_picture, load_listener
    from liveengine.training.export import plane_of
    from liveengine.training.model import DrumVAE, MultiResolutionSTFTLoss
    from liveengine.training.train import config_from, load

    torch.set_num_threads(1)
    started = time.time()
    model = DrumVAE(config_from(args.checkpoint))
    load(args.checkpoint, model, None)
    model.eval()
    names = list(model.cfg.classes)
    try:
        origin = plane_of(args.around, model.cfg.latent_dim)["mean"]
    except ValueError as error:
        parser.error(str(error).replace("--plane-from", "--around"))
    ears = {}
    for path in args.listeners:
        try:
            ears[path.stem.removesuffix("_listener")] = load_listener(path, len(names), model.cfg.n_mels)[0]
        except ValueError as error:
            parser.error(str(error))

    sounds = np.load(args.data / "sounds.npz")
    audio = sounds["audio"].astype(np.float32) / 32767.0
    if audio.shape[1] != model.cfg.length:
        parser.error(f"{args.data} holds sounds of {audio.shape[1]} samples; the checkpoint's window is {model.cfg.length}")
    classes, files = sounds["classes"].astype(int), sounds["files"]
    heldout = np.flatnonzero(sounds["split"] == "heldout")
    labelled = heldout[classes[heldout] >= 0]

    with torch.no_grad():
        means = torch.cat([model.encoder(torch.from_numpy(audio[heldout[i:i + 64]]))[0] for i in range(0, len(heldout), 64)])
        mrstft = MultiResolutionSTFTLoss()
        distances = []
        for i in range(0, len(heldout), 32):
            magnitude, phase = model.decoder(means[i:i + 32])
            sc, mag = mrstft(model.synthesise(magnitude, phase), torch.from_numpy(audio[heldout[i:i + 32]]))
            distances.append((float(sc + mag), min(32, len(heldout) - i)))
    distance = sum(d * n for d, n in distances) / len(heldout)
    point = {int(r): means[i].numpy() for i, r in enumerate(heldout)}

    def heard(quad: list[int]) -> dict:
        z = torch.from_numpy(pad_points(np.stack([point[r] for r in quad]), origin))
        with torch.no_grad():
            picture = listening_picture(model.encoder.features.log_mel(model.decoder(z)[0] ** 2))
            pads = {ear: [names[c] for c in listener(picture).argmax(1).tolist()] for ear, listener in ears.items()}
        return {ear: {**judge(heard_pads, names), "tom_pads": heard_pads.count("tom")} for ear, heard_pads in pads.items()}

    rng = np.random.default_rng(args.seed)
    kits = kit_corners(files, classes, names, labelled, instrument_names(args.data, files))
    per_kit = {}
    for kit, quad in kits.items():
        rows = [int(r) for r in labelled if Path(str(files[r])).parent.name == kit]
        per_kit[kit] = {"files": [Path(str(files[r])).name for r in quad], "corners": heard(quad), "drawn": [heard(q) for q in drawn_quads(rows, classes, names, args.quads, rng)]}

    def tally(grids: list[dict]) -> dict:
        return {ear: {"passing": sum(g[ear]["passes"] for g in grids), "corners_kept": sum(g[ear]["kept"] for g in grids),
                      "tom_pads": sum(g[ear]["tom_pads"] for g in grids), "pads": 64 * len(grids)}
                for ear in ears}

    firsts = [k["corners"] for k in per_kit.values()]
    drawn = [g for k in per_kit.values() for g in k["drawn"]]
    result = {"checkpoint": args.checkpoint.name, "around": args.around.name, "listeners": list(ears), "kits": len(per_kit),
              "quads_per_kit": args.quads, "seed": args.seed, "heldout_mrstft": round(distance, 4), "heldout_sounds": len(heldout),
              "corners": tally(firsts), "drawn": tally(drawn),
              "per_kit": per_kit, "seconds": round(time.time() - started, 1)}
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: result[k] for k in ("checkpoint", "heldout_mrstft", "corners", "drawn", "seconds")}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
