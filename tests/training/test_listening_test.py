"""bench/listening_test.py: the corners check by a person's ear, blind. The shipped drum model's real ONNX files, and
listeners played by the test from the key: one who hears as the model's classifier (the verdict must then be the
corners check's own), one who hears toms everywhere, and answer sheets with mistakes in them."""

import csv
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench"))

import corners_check  # noqa: E402
import listening_test  # noqa: E402
from test_corners_check import sure_sounds  # noqa: E402


@pytest.fixture(scope="module")
def kits():
    """Two kits of sounds the drum model makes where its head is sure of each corner class (test_corners_check's)."""
    decoder, sounds = sure_sounds()
    names = list(decoder.classes)
    audio = np.concatenate([sounds, sounds[[1, 0, 3, 2]]])  # kit "a", then kit "b" with each pair swapped
    files = np.array([f"kits/a/{i}" for i in range(4)] + [f"kits/b/{i}" for i in range(4)])
    classes = np.array([names.index(c) for c in corners_check.CORNER_CLASSES] * 2)
    return decoder, audio, files, classes


def answer(folder: Path, hear) -> None:
    key = json.loads((folder / listening_test.KEY).read_text())
    rows = list(csv.reader((folder / "answers.csv").open()))
    with open(folder / "answers.csv", "w", newline="") as sheet:
        writer = csv.writer(sheet)
        writer.writerow(rows[0])
        for sound, _ in rows[1:]:
            writer.writerow([sound, hear(key["sounds"][sound])])


def test_a_listener_who_hears_as_the_classifier_gives_the_corners_checks_verdict(kits, tmp_path):
    decoder, audio, files, classes = kits
    out = tmp_path / "listening"
    key = listening_test.prepare(decoder, audio, files, classes, np.arange(8), out, seed=3)
    wavs = sorted((out / "sounds").glob("*.wav"))
    assert len(wavs) == len(key["sounds"]) == 2 * (64 + 4) and wavs[0].name == "0001.wav"
    assert [row[1] for row in csv.reader((out / "answers.csv").open())][1:] == [""] * 136  # blank, nothing given away
    order = [(item["kit"], item.get("pad", -1)) for item in key["sounds"].values()]
    assert order != sorted(order)  # shuffled across kits and pads
    first = next(name for name, item in key["sounds"].items() if item["kit"] == "a" and item.get("pad") == 0)
    played, rate = sf.read(out / "sounds" / first, dtype="float32")
    rendered = np.zeros((64, decoder.output_length), np.float32)
    decoder.decode_into(corners_check.corner_grid(decoder, corners_check.window(decoder, audio[:4])[0])[1].astype(np.float32), rendered)
    assert rate == decoder.sample_rate and np.abs(played - rendered[0]).max() < 1e-4  # the pad, as the engine renders it
    with pytest.raises(SystemExit, match="already holds files"):
        listening_test.prepare(decoder, audio, files, classes, np.arange(8), out)

    answer(out, lambda item: item.get("model", item.get("label")))  # the classifier's ear; the recordings by their labels
    result = listening_test.score(out)
    check = corners_check.check_corners(decoder, audio, files, classes, np.arange(8))
    for kit in ("a", "b"):
        mine, theirs = result["per_kit"][kit], check["per_kit"][kit]
        assert {k: mine[k] for k in ("corners", "kept", "largest_class", "largest_class_pads", "passes")} == \
               {k: theirs[k] for k in ("corners", "kept", "largest_class", "largest_class_pads", "passes")}
        assert mine["files"]["kept"] == 4
    assert result["kits_passing"] == check["kits_passing"] and result["agreement_with_classifier"] == 1.0
    assert json.loads((out / "score.json").read_text()) == result


def test_a_listener_who_hears_toms_everywhere_fails_every_kit_and_gaps_and_mistakes_are_said(kits, tmp_path):
    decoder, audio, files, classes = kits
    out = tmp_path / "listening"
    key = listening_test.prepare(decoder, audio, files, classes, np.arange(8), out, kits=1)
    assert {item["kit"] for item in key["sounds"].values()} == {"a"} and len(key["sounds"]) == 68
    answer(out, lambda item: "tom")
    result = listening_test.score(out)
    kit = result["per_kit"]["a"]
    assert kit["kept"] == 0 and kit["largest_class"] == "tom" and kit["largest_class_pads"] == 64 and not kit["passes"]
    assert result["kits_passing"] == 0 and kit["files"]["kept"] == 0

    pad = next(name for name, item in key["sounds"].items() if "pad" in item)
    answer(out, lambda item: "" if item.get("pad") == key["sounds"][pad]["pad"] else "tom")  # one pad left blank
    result = listening_test.score(out)
    assert result["unanswered"] == 1 and result["kits_judged"] == 0 and result["per_kit"]["a"] == {
        "unanswered_pads": 1, "files": {"heard": {c: "tom" for c in corners_check.CORNER_CLASSES}, "kept": 0}}

    rows = (out / "answers.csv").read_text().splitlines()
    for wrong, said in ((rows[:3] + [rows[3].split(",")[0] + ",cowbell"] + rows[4:], "row 4: 'cowbell'.*allowed: kick, snare"),
                        (rows + [rows[2]], "listed twice"), (rows[:2] + [rows[2].split(",")[0] + ","] + rows[2:], "listed twice"),
                        (rows + ["9999.wav,tom"], "not one of this test's sounds"),
                        (["file,what"] + rows[1:], "first row must be 'sound,class'"),
                        ([r.replace(",", ";") for r in rows], "separated by ';'")):
        (out / "answers.csv").write_text("\n".join(wrong) + "\n")
        with pytest.raises(SystemExit, match=said):
            listening_test.score(out)
    (out / "answers.csv").write_text("\ufeff" + "\n".join(rows) + "\n")  # saved by a spreadsheet, with a byte-order mark
    assert listening_test.score(out)["unanswered"] == 1
    with pytest.raises(SystemExit, match="no readable .key.json"):
        listening_test.score(tmp_path)


def test_the_command_refuses_a_kit_count_below_1(capsys):
    with pytest.raises(SystemExit):
        listening_test.main(["prepare", "--out", "unused", "--kits", "0"])
    assert "--kits 0: allowed: 1 or more" in capsys.readouterr().err
