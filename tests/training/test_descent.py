"""The encoder that checks its guess (liveengine/training/descent.py): its inverse STFT is the contract's, its distance
is the bench's, its steps bring a point's sound nearer and a silent sound keeps the encoder's point; tail.py's export of
it (an encoder.onnx that computes the same) is checked in test_tail.py.

Needs the `train` extra (PyTorch); the normal suite skips it without."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")

from test_reencode import _trained  # noqa: E402
from test_train_smoke import _sounds  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))


@pytest.mark.parametrize("n", [2048, 1024, 512, 72, 18])  # 72 and 18 split into an odd n2 (8 x 9, 2 x 9)
def test_the_factorised_dft_and_its_inverse_are_the_dft(n):
    from liveengine.training.descent import irdft, irdft_basis, rdft, rdft_basis, rdft_order

    generator = torch.Generator().manual_seed(n)
    frames = torch.randn(2, 3, n, generator=generator, dtype=torch.float64)
    re, im = rdft(frames, rdft_basis(n, torch.float64))
    order = rdft_order(n)
    assert sorted(order.tolist()) == list(range(n // 2 + 1))  # every bin once
    want = torch.fft.rfft(frames)[..., order]
    assert torch.allclose(re, want.real, atol=1e-9) and torch.allclose(im, want.imag, atol=1e-9)
    spectrum = torch.randn(2, 2, n // 2 + 1, 3, generator=generator, dtype=torch.float64)  # re, im [batch, bins, frames]
    angle = 2 * np.pi * torch.remainder(torch.arange(n // 2 + 1)[:, None] * torch.arange(n)[None, :], n).double() / n
    want = spectrum[0].transpose(1, 2) @ torch.cos(angle) - spectrum[1].transpose(1, 2) @ torch.sin(angle)
    assert torch.allclose(irdft(spectrum[0], spectrum[1], irdft_basis(n, torch.float64)), want, atol=1e-9)
    with pytest.raises(ValueError, match="an even length"):
        rdft_basis(n + 1)


def test_the_inverse_stft_is_the_contracts():
    from liveengine.training.descent import InverseSTFT
    from liveengine.training.model import Config, DrumVAE

    model = DrumVAE(Config())
    generator = torch.Generator().manual_seed(3)
    magnitude = torch.rand(3, model.cfg.bins, model.cfg.frames, generator=generator)
    phase = (torch.rand(3, model.cfg.bins, model.cfg.frames, generator=generator) - 0.5) * 2 * np.pi
    want = model.synthesise(magnitude, phase)
    synthesis = InverseSTFT(model.cfg.n_fft, model.cfg.hop, model.cfg.frames, model.cfg.length)
    for got in (synthesis(magnitude, phase, synthesis.basis()), synthesis(magnitude, phase)):  # as exported; by torch.istft
        assert got.shape == want.shape
        assert float((got - want).abs().max()) < 1e-4 * float(want.abs().max())
    with pytest.raises(ValueError, match="hop must be n_fft / 4"):
        InverseSTFT(1024, 512, 10, 4096)


def test_the_distance_is_the_benchs():
    from liveengine.training.descent import SpectralDistance

    sounds, _ = _sounds(4, 11)
    ref, est = sounds[:2], sounds[2:]
    for dft in (True, False):  # as exported (DFT products) and in torch (FFTs)
        plain = SpectralDistance(44100, envelope=0.0)(torch.from_numpy(est), torch.from_numpy(ref), dft).numpy()
        cepstral = SpectralDistance(44100, envelope=1.0)(torch.from_numpy(est), torch.from_numpy(ref), dft).numpy() - plain
        _agrees_with_the_bench(ref, est, plain, cepstral)


def _agrees_with_the_bench(ref, est, plain, cepstral):
    import model_quality as mq

    for i in range(2):
        bench = mq.distances(ref[i], est[i])
        assert plain[i] == pytest.approx(bench["mrstft"], rel=0.01)  # float32 here, float64 there, near silence
        # the floor added here (a gradient where a band is silent), a maximum there: a few per cent apart on silent frames
        assert cepstral[i] * 10 / np.log(10) == pytest.approx(bench["mcd"], rel=0.06)


def test_descent_brings_each_sound_nearer_and_leaves_silence_where_it_was(tmp_path):
    from liveengine.training import train
    from liveengine.training.descent import Descent, SpectralDistance
    from liveengine.training.model import DrumVAE

    _, source = _trained(tmp_path)
    model = DrumVAE(train.config_from(source))
    train.load(source, model, None)
    model.eval()
    descent = Descent(model.encoder, model.decoder, model.cfg, steps=4, rate=0.5)
    sounds = torch.from_numpy(_sounds(6, 13)[0])
    sounds[5] = 0.0
    with torch.no_grad():
        start = model.encoder(sounds)[0]
    moved, logvar = descent(sounds)
    distance = SpectralDistance(model.cfg.sample_rate)

    def far(z):
        with torch.no_grad():
            return distance(model.synthesise(*model.decoder(z)), sounds).numpy()

    before, after = far(start), far(moved)
    assert np.all(after[:5] < before[:5]), (before, after)
    assert torch.equal(moved[5], start[5])  # silence has no nearest point: the encoder's stays
    assert torch.equal(logvar, model.encoder(sounds)[1].detach())
    for wrong in ((0, 0.5), (2, 0.0)):
        with pytest.raises(ValueError, match="descent needs 1 or more steps of a rate above 0"):
            Descent(model.encoder, model.decoder, model.cfg, *wrong)


def test_tail_refuses_a_descent_outside_its_limits_before_any_work(tmp_path):
    """The export itself is tested in test_tail.py (its second export descends one step)."""
    from liveengine.training import tail

    for wrong in (["--descent", "-1"], ["--descent", "17"], ["--descent", "2", "--descent-rate", "0"]):
        with pytest.raises(SystemExit, match="--descent must be 0 to 16 steps and --descent-rate above 0"):
            tail.main(["--checkpoint", str(tmp_path / "none.pt"), "--out", str(tmp_path / "no"), "--name", "no"] + wrong)
    assert not (tmp_path / "no").exists()
