"""decoder_grad.onnx, the graph the fit runs (liveengine/decoders/fit.py): its z_grad is the decoder's vector-Jacobian
product as PyTorch computes it, at a batch size the export never saw, for both decoder heads (plain phase and noise phase).

Needs the `train` extra (PyTorch)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")

from liveengine.training.export_grad import export_decoder_grad  # noqa: E402
from liveengine.training.model import Config, Decoder  # noqa: E402


@pytest.mark.parametrize("noise_phase", [False, True])
def test_the_exported_gradient_is_torchs_vector_jacobian_product(tmp_path, noise_phase):
    import onnxruntime as ort

    torch.manual_seed(0)
    cfg = Config(length=22050, noise_phase=noise_phase, dec_channels=(32, 64, 48, 32))  # small: the export is what is tested
    decoder = Decoder(cfg).eval()
    path = tmp_path / "decoder_grad.onnx"
    export_decoder_grad(decoder, cfg.latent_dim, cfg.bins, cfg.frames, path)

    rng = np.random.default_rng(1)
    z = rng.standard_normal((3, cfg.latent_dim)).astype(np.float32)  # the export traced a batch of 2
    magnitude_grad = rng.standard_normal((3, cfg.bins, cfg.frames)).astype(np.float32)
    phase_grad = rng.standard_normal((3, cfg.bins, cfg.frames)).astype(np.float32)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (ours,) = session.run(None, {"z": z, "magnitude_grad": magnitude_grad, "phase_grad": phase_grad})

    zt = torch.from_numpy(z).requires_grad_(True)
    magnitude, phase = decoder(zt)
    (expected,) = torch.autograd.grad((magnitude, phase), zt, grad_outputs=(torch.from_numpy(magnitude_grad), torch.from_numpy(phase_grad)))
    assert ours.shape == (3, cfg.latent_dim)
    assert np.abs(expected.numpy()).max() > 1e-3  # a gradient that is there to be matched
    np.testing.assert_allclose(ours, expected.numpy(), rtol=1e-3, atol=1e-4 * np.abs(expected.numpy()).max())
