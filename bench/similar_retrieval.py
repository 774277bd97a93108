"""Does `liveengine similar` find a file in a library that holds it? Self-hit rate and precision@5 by drum class.

    python bench/similar_retrieval.py [--model drums]

Libraries: the default patch's exported grid (`liveengine render-grid default`, 64 pads), the
same patch as a 16x16 grid at zoom 2 (256 pads reaching further out), and the hydrogen drum kits
(Debian package hydrogen-drumkits) where they are installed. Every file is queried against the
library holding it, through the same functions `similar` uses; it is its own top hit when the
nearest sound is the file itself (or a byte-identical copy) within 1e-4 of distance 0.
Precision@5: of the 5 nearest sounds of other files, the share whose file has the query's class;
grid pads are labelled by the model's own classifier (grid.json), hydrogen sounds by instrument
name (liveengine.training.data). Writes bench/results_similar.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
SELF_DISTANCE = 1e-4


def render_grid(tmp: Path, name: str, patch_text: str) -> tuple[Path, dict[str, str]]:
    """Export a copy of the default patch as a grid folder; (folder, file name -> class from grid.json)."""
    patch = tmp / f"{name}.toml"
    patch.write_text(patch_text)
    out = tmp / name
    subprocess.run([sys.executable, "-m", "liveengine", "render-grid", str(patch), "--out", str(out)], check=True, cwd=ROOT,
                   stdout=subprocess.DEVNULL)
    pads = json.loads((out / "grid.json").read_text())["pads"]
    return out, {p["file"]: p["description"]["class"] for p in pads if p["description"]["class"]}


def hydrogen_library() -> tuple[Path, dict[str, str]] | None:
    from liveengine.training.data import HYDROGEN, hydrogen_kit

    if not HYDROGEN.is_dir():
        return None
    classes = {}
    for folder in sorted(p for p in HYDROGEN.iterdir() if (p / "drumkit.xml").exists()):
        for path, _, cls in hydrogen_kit(folder):
            if cls:
                classes[path.relative_to(HYDROGEN).as_posix()] = cls
    return HYDROGEN, classes


def measure(decoder, folder: Path, classes: dict[str, str], cache: Path) -> dict:
    from liveengine.errors import LiveEngineError
    from liveengine.library.index import encode_sounds, library_files, load_or_build, query_sound

    index = load_or_build(decoder, folder, cache)
    digest = {name: hashlib.sha256((folder / name).read_bytes()).hexdigest() for name in index.files}
    hits, misses, self_distances = 0, [], []
    by_class: dict[str, list[float]] = {}
    for path in library_files(folder):
        name = path.relative_to(folder).as_posix()
        if name not in index.files:
            continue  # unreadable or silent: skipped by the index too
        try:
            _, sound = query_sound(path, decoder)
        except LiveEngineError:
            continue
        nearest = index.nearest(encode_sounds(decoder, [sound])[0], 6 + sum(n == name for n, _ in index.entries))
        top, _, distance = nearest[0]
        if distance <= SELF_DISTANCE and digest[top] == digest[name]:
            hits += 1
            self_distances.append(distance)
        else:
            rank = next((i + 1 for i, row in enumerate(nearest) if row[0] == name), None)
            misses.append({"file": name, "top": top, "distance": round(distance, 5), "own_rank": rank})
        if name in classes:
            others = [n for n, _, _ in nearest if n != name][:5]
            by_class.setdefault(classes[name], []).append(sum(classes.get(n) == classes[name] for n in others) / 5)
    queried = hits + len(misses)
    return {"folder": folder.name, "files": len(index.files), "sounds": len(index.entries), "skipped": len(index.skipped),
            "queried": queried, "self_hits": hits, "self_hit_rate": round(hits / queried, 4),
            "largest_self_distance": max(self_distances, default=None), "misses": misses[:20],
            "precision_at_5": {cls: {"queries": len(v), "precision": round(sum(v) / len(v), 3)} for cls, v in sorted(by_class.items())},
            "precision_at_5_mean": round(sum(sum(v) for v in by_class.values()) / max(1, sum(len(v) for v in by_class.values())), 3)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=None, help="a model with an encoder (default: the one the default patch plays)")
    parser.add_argument("--out", type=Path, default=HERE / "results_similar.json")
    args = parser.parse_args(argv)
    from liveengine.decoders.registry import load_decoder
    from liveengine.resources import default_model, patches_dir

    model = args.model or default_model().name
    decoder = load_decoder(model)
    default = re.sub(r'(?m)^decoder = "[^"]*"', f'decoder = "{model}"', (patches_dir() / "default.toml").read_text(), count=1)
    results = {"date": time.strftime("%Y-%m-%d"), "machine": f"{platform.machine()}, Python {platform.python_version()}",
               "model": {"name": decoder.name, "hash": decoder.identity}, "self_distance": SELF_DISTANCE, "libraries": {}}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        libraries = {"default grid (8x8)": render_grid(tmp, "grid", default),
                     "wide grid (16x16, zoom 2)": render_grid(tmp, "wide", default.replace("rows = 8", "rows = 16")
                                                              .replace("cols = 8", "cols = 16").replace("zoom = 1.0", "zoom = 2.0"))}
        hydrogen = hydrogen_library()
        if hydrogen is None:
            results["hydrogen"] = "not installed (Debian package hydrogen-drumkits): not measured"
        else:
            libraries["hydrogen drum kits"] = hydrogen
        for label, (folder, classes) in libraries.items():
            results["libraries"][label] = entry = measure(decoder, folder, classes, tmp / "cache")
            per_class = ", ".join(f"{cls} {v['precision']}" for cls, v in entry["precision_at_5"].items())
            print(f"{label}: {entry['self_hits']} of {entry['queried']} files their own top hit; "
                  f"precision@5 {entry['precision_at_5_mean']} ({per_class})", flush=True)
    args.out.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    from liveengine.job_lock import run_exclusively  # never beside a training run: each skews the other

    sys.exit(run_exclusively("the similar benchmark (bench/similar_retrieval.py)", main))
