"""The corners check by ear: a person names every pad of each held-out kit's corners grid, blind, and the same rule
as bench/corners_check.py is applied to what they heard.

    python bench/listening_test.py prepare --out listening [--model models_onnx/drums19] [--data training_data] [--kits 2]
    (listen to listening/sounds/*.wav in any order and write each one's class in listening/answers.csv)
    python bench/listening_test.py score listening

The corners check names pads by the model's own classifier, an ear that is right on 3 of 4 held-out recordings; this
asks a person instead. `prepare` places each held-out kit's corners exactly as the check does (its first kick, snare,
closed hat and crash, placed as the engine places corner files), renders the 64 pads of its grid and takes the four
recordings themselves, and writes them all as numbered WAV files in one shuffled order, so nothing in a name says which
kit, pad or class a sound is; `.key.json` holds what each one is (open it only to score). `score` reads the answers:
per kit, how many corners kept their class and how many pads the largest class covers, by the listener's ear (a kit
passes on 3 corners kept and no class over 32 pads, as in the check); how the listener named the kits' own recordings
(what the best decoder could be held to); and how often the listener and the model's classifier agree. Unanswered
sounds are counted and their kits left out of the verdict, never guessed. Writes score.json beside the answers.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from corners_check import CORNER_CLASSES, corner_grid, instrument_names, judge, kit_corners, window  # noqa: E402

KEY = ".key.json"
ANSWERS = "answers.csv"


def prepare(decoder, audio: np.ndarray, files: np.ndarray, classes: np.ndarray, held: np.ndarray, out: Path,
            seed: int = 0, kits: int | None = None, instruments: np.ndarray | None = None) -> dict:
    """Write the shuffled sounds, the blank answer sheet and the key into `out` (a new folder); returns the key.
    `instruments`: each file's instrument name, so that the cymbal corner is a crash as in the check (None: the first)."""
    import soundfile as sf

    from liveengine.decoders.onnx_decoder import PEAK_TARGET

    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise SystemExit(f"{out} already holds files; prepare writes a new folder and never overwrites a listening test.")
    names = list(decoder.classes)
    items = []
    chosen = kit_corners(files, classes, names, held, instruments)
    for kit, rows in list(chosen.items())[:kits]:
        sounds, _ = window(decoder, audio[rows])
        _, points = corner_grid(decoder, sounds)
        pads = np.zeros((len(points), decoder.output_length), np.float32)
        decoder.decode_into(points.astype(np.float32), pads)
        model_says = [names[c] for c in decoder.classify(points).argmax(axis=1)]
        items += [{"kit": kit, "pad": p, "model": model_says[p], "audio": pads[p]} for p in range(len(pads))]
        for corner, row in zip(CORNER_CLASSES, rows):
            recording = sounds[CORNER_CLASSES.index(corner)]
            peak = float(np.max(np.abs(recording)))
            items.append({"kit": kit, "file": str(files[row]), "label": corner,
                          "audio": recording / peak * PEAK_TARGET if peak > 0 else recording})  # as the pads are
    order = np.random.default_rng(seed).permutation(len(items))
    (out / "sounds").mkdir(parents=True, exist_ok=True)
    key = {"classes": names, "model": str(decoder.folder), "seed": seed, "sounds": {}}
    with open(out / ANSWERS, "w", newline="") as sheet:
        writer = csv.writer(sheet)
        writer.writerow(["sound", "class"])
        for number, i in enumerate(order, 1):
            name = f"{number:04d}.wav"
            item = items[i]
            sf.write(out / "sounds" / name, item.pop("audio"), decoder.sample_rate, subtype="PCM_16")
            key["sounds"][name] = item
            writer.writerow([name, ""])
    (out / KEY).write_text(json.dumps(key, indent=1))
    return key


def read_answers(folder: Path, key: dict) -> dict[str, str]:
    """sound -> class from answers.csv; SystemExit naming the row and what is allowed for anything else."""
    path = Path(folder) / ANSWERS
    allowed = key["classes"]
    answers = {}
    try:
        rows = list(csv.reader(path.open(newline="", encoding="utf-8-sig")))  # -sig: a spreadsheet's byte-order mark
    except OSError as exc:
        raise SystemExit(f"{path}: cannot read it ({exc.strerror}); prepare writes it beside the sounds.") from None
    if not rows or [c.strip() for c in rows[0]] != ["sound", "class"]:
        separated = " (its cells are separated by ';': save it with commas)" if rows and ";" in "".join(rows[0]) else ""
        raise SystemExit(f"{path}: the first row must be 'sound,class' as prepare wrote it{separated}.")
    seen = set()
    for number, row in enumerate(rows[1:], 2):
        if not row or not any(cell.strip() for cell in row):
            continue
        if len(row) != 2:
            raise SystemExit(f"{path} row {number}: {len(row)} cells; allowed: a sound and its class (one of {', '.join(allowed)}).")
        sound, heard = row[0].strip(), row[1].strip().lower()
        if sound not in key["sounds"]:
            raise SystemExit(f"{path} row {number}: {sound!r} is not one of this test's sounds (0001.wav to {len(key['sounds']):04d}.wav).")
        if sound in seen:
            raise SystemExit(f"{path} row {number}: {sound} is listed twice; give each sound one row.")
        seen.add(sound)
        if heard and heard not in allowed:
            raise SystemExit(f"{path} row {number}: {heard!r} for {sound}; allowed: {', '.join(allowed)} (or leave it blank).")
        if heard:
            answers[sound] = heard
    return answers


def score(folder: Path) -> dict:
    folder = Path(folder)
    try:
        key = json.loads((folder / KEY).read_text())
    except (OSError, ValueError):
        raise SystemExit(f"{folder}: no readable {KEY}; score a folder that `prepare` wrote.") from None
    names = key["classes"]
    answers = read_answers(folder, key)
    per_kit: dict[str, dict] = {}
    agree = answered_pads = 0
    for sound, item in key["sounds"].items():
        kit = per_kit.setdefault(item["kit"], {"pads": [None] * 64, "files": {}})
        heard = answers.get(sound)
        if "pad" in item:
            kit["pads"][item["pad"]] = heard
            if heard is not None:
                answered_pads += 1
                agree += heard == item["model"]
        else:
            kit["files"][item["label"]] = heard
    kits = {}
    for name, kit in sorted(per_kit.items()):
        missing = sum(h is None for h in kit["pads"])
        files = {"heard": kit["files"], "kept": sum(kit["files"].get(c) == c for c in CORNER_CLASSES)}
        kits[name] = ({**judge(kit["pads"], names)} if not missing else {"unanswered_pads": missing}) | {"files": files}
    judged = [k for k in kits.values() if "passes" in k]
    result = {"sounds": len(key["sounds"]), "answered": len(answers), "unanswered": len(key["sounds"]) - len(answers),
              "kits": len(kits), "kits_judged": len(judged), "kits_passing": sum(k["passes"] for k in judged),
              "corners_kept": sum(k["kept"] for k in judged), "corners": 4 * len(judged),
              "recordings_named_right": sum(k["files"]["kept"] for k in kits.values()), "recordings": 4 * len(kits),
              "agreement_with_classifier": agree / answered_pads if answered_pads else None, "per_kit": kits}
    (folder / "score.json").write_text(json.dumps(result, indent=1))
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    make = commands.add_parser("prepare", help="write the shuffled sounds, a blank answers.csv and the key")
    make.add_argument("--out", type=Path, required=True)
    make.add_argument("--model", type=Path, default=None, help="a model folder (default: the default patch's)")
    make.add_argument("--data", type=Path, default=REPO / "training_data")
    make.add_argument("--kits", type=int, default=None, help="the first N held-out kits only (default: all; 68 sounds a kit)")
    make.add_argument("--seed", type=int, default=0)
    marks = commands.add_parser("score", help="apply the corners rule to the answers")
    marks.add_argument("folder", type=Path)
    args = parser.parse_args(argv)
    if args.command == "score":
        result = score(args.folder)
        print(f"{result['answered']} of {result['sounds']} sounds answered; {result['kits_passing']} of {result['kits_judged']} kits "
              f"pass by ear ({result['corners_kept']} of {result['corners']} corners kept); the kits' own recordings named right: "
              f"{result['recordings_named_right']} of {result['recordings']}; written to {args.folder / 'score.json'}")
        return 0
    if args.kits is not None and args.kits < 1:
        parser.error(f"--kits {args.kits}: allowed: 1 or more")
    from liveengine.decoders.onnx_decoder import OnnxDecoder
    from liveengine.resources import default_model

    sounds = np.load(args.data / "sounds.npz")
    classes = sounds["classes"].astype(int)
    held = np.flatnonzero((sounds["split"] == "heldout") & (classes >= 0))
    key = prepare(OnnxDecoder(args.model or default_model(), threads=1), sounds["audio"].astype(np.float32) / 32767.0,
                  sounds["files"], classes, held, args.out, args.seed, args.kits, instrument_names(args.data, sounds["files"]))
    print(f"{len(key['sounds'])} sounds in {args.out / 'sounds'}: write each one's class in {args.out / ANSWERS} "
          f"({', '.join(key['classes'])}), then run: python bench/listening_test.py score {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
