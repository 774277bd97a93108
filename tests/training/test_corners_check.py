"""bench/corners_check.py: each kit's first kick, snare, closed hat and crash become the corners, and a kit passes only
when 3 corners keep their class and no class holds more than half the grid (the shipped drum model, real ONNX files)."""

import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench"))

import corners_check  # noqa: E402


def test_the_first_sound_of_each_corner_class_is_chosen_and_a_kit_without_one_is_left_out():
    names = ["kick", "snare", "clap", "hat_closed", "hat_open", "tom", "cymbal", "perc"]
    files = np.array(["k/a/1", "k/a/2", "k/a/3", "k/a/4", "k/a/5", "k/b/1", "k/b/2", "k/b/3"])
    classes = np.array([6, 0, 0, 1, 3, 0, 1, 3])  # kit b has no cymbal
    assert corners_check.kit_corners(files, classes, names, np.arange(8)) == {"a": [1, 3, 4, 0]}


def test_the_cymbal_corner_is_the_kits_first_crash_by_its_instrument_name_else_its_first_cymbal(tmp_path):
    """As the issue's producer chose: kick, snare, closed hat and crash. The names come from the data set's manifest.csv."""
    import csv

    import pytest

    names = ["kick", "snare", "clap", "hat_closed", "hat_open", "tom", "cymbal", "perc"]
    files = np.array(["k/a/ride", "k/a/kick", "k/a/crash", "k/a/snare", "k/a/hat", "k/b/ride", "k/b/kick", "k/b/snare", "k/b/hat"])
    classes = np.array([6, 0, 6, 1, 3, 6, 0, 1, 3])
    with open(tmp_path / "manifest.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["file", "source", "licence", "class", "split", "kit", "instrument"])
        for f, name in zip(files, ["Ride Jazz", "Kick", "Crash 18\"", "Snare", "Closed HH", "Paiste Ride", "Kick", "Snare", "HH"]):
            writer.writerow([f, "s", "GPL-2", "", "heldout", f.split("/")[1], name])
        writer.writerow(["k/c/other", "s", "CC0", "", "train", "c", ""])
    instruments = corners_check.instrument_names(tmp_path, np.append(files, "k/not/listed"))
    assert instruments[2] == 'Crash 18"' and instruments[-1] == ""
    picked = corners_check.kit_corners(files, classes, names, np.arange(len(files)), instruments[:-1])
    assert picked == {"a": [1, 3, 4, 2], "b": [6, 7, 8, 5]}  # kit b names no crash: its first cymbal
    assert corners_check.kit_corners(files, classes, names, np.arange(len(files)))["a"] == [1, 3, 4, 0]  # names unknown

    with pytest.raises(SystemExit) as refused:
        corners_check.instrument_names(tmp_path / "nowhere", files)
    assert "manifest.csv: cannot read the kits' instrument names" in str(refused.value)
    assert "allowed: the manifest.csv `python -m liveengine.training.data` writes" in str(refused.value)


def sure_sounds():
    """The first drum model, and sounds it makes at latent points its head is sure of, one per corner class."""
    from liveengine.decoders.onnx_decoder import OnnxDecoder

    decoder = OnnxDecoder(REPO / "models_onnx" / "drums", threads=1)
    names = list(decoder.classes)
    rng = np.random.default_rng(0)
    z = (np.asarray(decoder.info.latent_mean) + rng.normal(0, 1.5, (2000, decoder.latent_dim))).astype(np.float32)
    p = decoder.classify(z)
    picks = [int(np.argmax(np.where(p.argmax(1) == names.index(c), p.max(1), -1))) for c in corners_check.CORNER_CLASSES]
    sounds = np.zeros((4, decoder.output_length), np.float32)
    decoder.decode_into(z[picks], sounds)
    return decoder, sounds


def test_a_kit_of_distinct_drums_passes_and_a_kit_of_one_sound_fails():
    decoder, sounds = sure_sounds()
    names = list(decoder.classes)
    # re-encoded, each keeps its class (checked here, so that the test states its premise rather than assumes it)
    assert [names[i] for i in decoder.classify(decoder.encode(sounds)).argmax(1)] == list(corners_check.CORNER_CLASSES)

    audio = np.concatenate([sounds, np.repeat(sounds[:1], 4, axis=0)])  # kit "good", then kit "one" (the kick four times)
    files = np.array([f"kits/good/{i}" for i in range(4)] + [f"kits/one/{i}" for i in range(4)])
    classes = np.array([names.index(c) for c in corners_check.CORNER_CLASSES] * 2)
    result = corners_check.check_corners(decoder, audio, files, classes, np.arange(8))
    good, one = result["per_kit"]["good"], result["per_kit"]["one"]
    assert good["corners"] == list(corners_check.CORNER_CLASSES) and good["kept"] == 4
    assert good["passes"] == (good["largest_class_pads"] <= 32)
    assert one["corners"] == ["kick"] * 4 and one["kept"] == 1 and one["largest_class_pads"] == 64 and not one["passes"]
    assert result["kits"] == 2 and result["corners_kept"] == 5 and result["corners"] == 8
    assert result["kits_passing"] == int(good["passes"])
    assert result["cymbal"] == "the first" and good["files"] == ["0", "1", "2", "3"]

    # Kit "good" again, with a second cymbal named a crash after its first: the kick's sound. By the crash rule that
    # kit keeps 3 corners, by the first cymbal all 4; both are written, the crash rule's on top.
    audio2 = np.concatenate([sounds, sounds[:1]])
    files2 = np.array([f"kits/good/{i}" for i in range(5)])
    classes2 = np.append(classes[:4], names.index("cymbal"))
    instruments = np.array(["", "", "", "Ride", "Crash"])
    both = corners_check.check_both(decoder, audio2, files2, classes2, np.arange(5), instruments)
    assert both["cymbal"] == "a crash where the kit names one" and both["per_kit"]["good"]["files"][3] == "4"
    assert both["per_kit"]["good"]["corners"][:3] == list(corners_check.CORNER_CLASSES[:3])
    assert both["per_kit"]["good"]["corners"][3] != "cymbal" and both["per_kit"]["good"]["kept"] == 3
    assert both["first_cymbal"]["per_kit"]["good"]["corners"] == list(corners_check.CORNER_CLASSES)
    assert both["first_cymbal"]["corners_kept"] == 4 and both["corners_kept"] == 3
    # A corner is placed by the fit, which never ends further from its file than the encoder's point it starts at.
    for kit in (good, one):
        assert all(p <= e + 1e-4 for p, e in zip(kit["corner_distance"]["placed"], kit["corner_distance"]["encoded"]))
    assert result["corner_distance_mean"]["placed"] <= result["corner_distance_mean"]["encoded"]


def test_a_model_longer_than_the_files_is_measured_over_the_files_samples():
    """drums8 plays 1.3 s; the data set's files are 1 s. Its tail is not held against the padding after a file's end."""
    from liveengine.decoders.fit import SpectralDistance
    from liveengine.decoders.onnx_decoder import OnnxDecoder

    decoder = OnnxDecoder(REPO / "models_onnx" / "drums8", threads=1)
    names = list(decoder.classes)
    second = 44100
    assert decoder.output_length > second
    rng = np.random.default_rng(1)
    z = (np.asarray(decoder.info.latent_mean) + rng.normal(0, 1.0, (4, decoder.latent_dim))).astype(np.float32)
    rendered = np.zeros((4, decoder.output_length), np.float32)
    decoder.decode_into(z, rendered)
    files = rendered[:, :second].copy()  # what the 1 s data set holds: the first second
    classes = np.array([names.index(c) for c in corners_check.CORNER_CLASSES])
    result = corners_check.check_corners(decoder, files, np.array([f"kits/k/{i}" for i in range(4)]), classes, np.arange(4))

    padded = np.pad(files, ((0, 0), (0, decoder.output_length - second)))
    decoded = np.zeros_like(padded)
    decoder.decode_into(decoder.encode(padded), decoded)
    expected = SpectralDistance(files).value_and_grad(decoded[:, :second], grad=False)[0]
    charged = SpectralDistance(padded).value_and_grad(decoded, grad=False)[0]  # the whole window against the padding
    assert np.allclose(result["per_kit"]["k"]["corner_distance"]["encoded"], expected, atol=1e-5)
    assert not np.allclose(expected, charged, atol=1e-3)


def test_a_tether_outside_0_to_infinity_is_refused_in_one_sentence(capsys):
    import pytest

    for wrong in ("-0.1", "nan", "inf"):
        with pytest.raises(SystemExit) as refused:
            corners_check.main(["--tether", wrong, "--data", str(REPO / "no-such-data")])
        assert refused.value.code == 2 and f"--tether {float(wrong)}: allowed: a number of 0 or more" in capsys.readouterr().err


def test_a_bent_layout_keeps_the_corners_and_draws_the_pads_beside_them_nearer():
    """`--layout` (a what-if for the model's card; the engine lays corners evenly)."""
    from liveengine.grid.anchors import pad_points
    from liveengine.grid.mappings import CornersMapping, GridSetting

    anchors = np.random.default_rng(2).normal(0, 1, (4, 6))
    mapping = CornersMapping(anchors, np.zeros(6))
    setting = GridSetting(8, 8, "corners")
    corners = [setting.pad_index(0, 0), setting.pad_index(0, 7), setting.pad_index(7, 0), setting.pad_index(7, 7)]
    even = pad_points(setting, mapping)
    assert np.allclose(even[corners], anchors, atol=1e-5)
    assert np.array_equal(pad_points(setting, corners_check.Bent(mapping, corners_check.LAYOUTS["even"])), even)
    for name in ("smoothstep", "smootherstep"):
        bent = pad_points(setting, corners_check.Bent(mapping, corners_check.LAYOUTS[name]))
        assert np.allclose(bent[corners], anchors, atol=1e-5)
        for pad, corner in ((setting.pad_index(0, 1), 0), (setting.pad_index(6, 7), 3)):  # beside bottom left, top right
            assert np.linalg.norm(bent[pad] - anchors[corner]) < 0.8 * np.linalg.norm(even[pad] - anchors[corner])


def test_a_layout_not_in_the_list_is_refused_naming_the_ones_allowed(capsys):
    import pytest

    with pytest.raises(SystemExit) as refused:
        corners_check.main(["--layout", "wavy", "--data", str(REPO / "no-such-data")])
    said = capsys.readouterr().err
    assert refused.value.code == 2 and "--layout: invalid choice: 'wavy'" in said
    assert all(name in said for name in corners_check.LAYOUTS)
