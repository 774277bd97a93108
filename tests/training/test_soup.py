"""Two checkpoints mixed weight by weight (liveengine/training/soup.py): the ends are the two checkpoints, the middle is
the mean of their weights, and the result trains on, exports and loads under the contract like any checkpoint.
Bad input (another model, a weight outside 0 to 1, a file that is no checkpoint, the output over an input) is refused
in one sentence before anything is written.

Needs the `train` extra (PyTorch); the normal suite skips it without."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")

from test_reencode import _trained  # noqa: E402


def _two(tmp_path):
    """A checkpoint and one trained 2 steps further from it (a copy resumed): the pair a soup mixes."""
    from liveengine.training import train

    data, first = _trained(tmp_path)
    second = tmp_path / "further.pt"
    shutil.copy2(first, second)
    train.main(["--data", str(data), "--checkpoint", str(second), "--batch", "4", "--max-steps", "4", "--save-every", "0"])
    return data, first, second


def _weights(path):
    return torch.load(path, map_location="cpu", weights_only=False)["model"]


def test_the_ends_are_the_two_checkpoints_and_the_middle_their_mean(tmp_path, capsys):
    from liveengine.training import soup

    _, first, second = _two(tmp_path)
    a, b = _weights(first), _weights(second)
    moved = [k for k in a if a[k].is_floating_point() and not torch.equal(a[k], b[k])]
    assert moved, "the second checkpoint must differ from the first for this test to mean anything"
    for weight, name in ((0.0, "w0.pt"), (1.0, "w1.pt"), (0.5, "half.pt")):
        soup.main(["--from", str(first), "--with", str(second), "--weight", str(weight), "--checkpoint", str(tmp_path / name)])
    w0, w1, half = (_weights(tmp_path / n) for n in ("w0.pt", "w1.pt", "half.pt"))
    for k in a:
        assert torch.equal(w0[k], a[k])
        if a[k].is_floating_point():
            assert torch.equal(w1[k], b[k])
            torch.testing.assert_close(half[k], (a[k] + b[k]) / 2)
        else:  # batch-norm counters: the first checkpoint's
            assert torch.equal(w1[k], a[k]) and torch.equal(half[k], a[k])
    saved = torch.load(tmp_path / "half.pt", map_location="cpu", weights_only=False)
    assert saved["state"]["soup"] == {"from": "drums.pt", "with": "further.pt", "weight": 0.5, "steps": [2, 4]}
    assert saved["optimizer"]["state"] == {}
    assert "0.5 x drums.pt + 0.5 x further.pt" in capsys.readouterr().out


def test_a_soup_renders_between_its_ends_trains_on_and_exports_under_the_contract(tmp_path):
    from liveengine.decoders.onnx_decoder import OnnxDecoder
    from liveengine.training import soup, tail, train
    from liveengine.training.model import DrumVAE

    data, first, second = _two(tmp_path)
    mixed = tmp_path / "soup.pt"
    soup.main(["--from", str(first), "--with", str(second), "--weight", "0.5", "--checkpoint", str(mixed)])
    z = torch.randn(3, train.config_from(first).latent_dim, generator=torch.Generator().manual_seed(1))
    renders = []
    for path in (first, mixed, second):
        model = DrumVAE(train.config_from(path)).eval()
        train.load(path, model, None)
        with torch.no_grad():
            renders.append(model.decoder(z)[0].numpy())
    assert not np.allclose(renders[1], renders[0]) and not np.allclose(renders[1], renders[2])
    # training goes on from it with fresh optimizer moments (resume reads the checkpoint as train.py wrote it)
    train.main(["--data", str(data), "--checkpoint", str(mixed), "--batch", "4", "--max-steps", "1", "--save-every", "0"])
    assert torch.load(mixed, map_location="cpu", weights_only=False)["state"]["step"] == 1
    out = tmp_path / "souped"
    tail.main(["--checkpoint", str(mixed), "--data", str(data), "--out", str(out), "--name", "souped", "--seconds", "1.2"])
    decoder = OnnxDecoder(out)
    decoder.prepare(1)
    sound = np.zeros((1, decoder.info.output_length), np.float32)
    decoder.decode_into(np.zeros((1, decoder.info.latent_dim), np.float32), sound)
    assert np.isfinite(sound).all() and np.abs(sound).max() > 0


def test_bad_input_is_refused_in_one_sentence_before_anything_is_written(tmp_path, capsys):
    from liveengine.training import soup

    _, first, second = _two(tmp_path)
    out = tmp_path / "out.pt"

    def refused(argv, says):
        with pytest.raises(SystemExit) as stop:
            soup.main(argv)
        assert stop.value.code == 2
        err = capsys.readouterr().err
        assert says in err and "allowed" in err, err
        assert not out.exists()

    refused(["--from", str(first), "--with", str(second), "--weight", "1.5", "--checkpoint", str(out)], "outside 0 to 1")
    refused(["--from", str(first), "--with", str(second), "--weight", "0.5", "--checkpoint", str(second)], "would overwrite")
    not_one = tmp_path / "notes.pt"
    not_one.write_text("not a checkpoint")
    refused(["--from", str(first), "--with", str(not_one), "--weight", "0.5", "--checkpoint", str(out)], "notes.pt is not a training checkpoint")
    other = torch.load(second, map_location="cpu", weights_only=False)
    other["config"]["latent_dim"] += 1
    torch.save(other, tmp_path / "other.pt")
    refused(["--from", str(first), "--with", str(tmp_path / "other.pt"), "--weight", "0.5", "--checkpoint", str(out)],
            "configs differ in latent_dim")
    other["config"]["latent_dim"] -= 1
    other["model"]["extra.weight"] = torch.zeros(2)
    torch.save(other, tmp_path / "other.pt")
    refused(["--from", str(first), "--with", str(tmp_path / "other.pt"), "--weight", "0.5", "--checkpoint", str(out)],
            "hold different tensors (extra.weight)")
