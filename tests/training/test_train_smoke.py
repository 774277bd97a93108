"""Training smoke test: a few steps on a handful of generated sounds, exported, loaded by the runtime.

Needs the `train` extra (PyTorch); the normal suite skips it.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")

from liveengine.training import data as drum_data  # noqa: E402

SR = drum_data.SAMPLE_RATE
N = drum_data.LENGTH


def _sounds(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Decaying sines (kick/tom-like) and noise bursts (hat/snare-like)."""
    rng = np.random.default_rng(seed)
    t = np.arange(N) / SR
    audio, classes = [], []
    for i in range(count):
        if i % 2 == 0:
            f = rng.uniform(50, 200)
            x = np.sin(2 * np.pi * f * t * (1 + 0.5 * np.exp(-t / 0.02))) * np.exp(-t / rng.uniform(0.05, 0.3))
            classes.append(drum_data.CLASSES.index("kick"))
        else:
            x = rng.standard_normal(N) * np.exp(-t / rng.uniform(0.02, 0.1))
            classes.append(drum_data.CLASSES.index("hat_closed"))
        audio.append(drum_data.to_oneshot(x.astype(np.float32)))
    return np.stack(audio), np.array(classes, np.int16)


def _write_data(folder) -> None:
    write_data_set(folder, *_sounds(6, 0), *_sounds(4, 1))


def write_data_set(folder, train, train_classes, held, held_classes) -> None:
    """A data set folder as liveengine.training.data writes it: 6 training sounds and 4 held out."""
    audio = np.concatenate([train, held])
    np.savez(folder / "sounds.npz", audio=(audio * 32767).astype(np.int16),
             classes=np.concatenate([train_classes, held_classes]), split=np.array(["train"] * 6 + ["heldout"] * 4),
             source=np.array(["generated"] * 10), kit=np.array(["generated"] * 10), files=np.array([f"s{i}" for i in range(10)]))
    np.savez(folder / "train_aug.npz", audio=(train * 32767).astype(np.int16), classes=train_classes, origin=np.arange(6, dtype=np.int32))
    (folder / "manifest.csv").write_text("file,source,licence,class,split,kit,instrument\n")


def test_labels_from_gm_notes_and_names():
    assert drum_data.gm_class(36) == "kick" and drum_data.gm_class(42) == "hat_closed" and drum_data.gm_class(46) == "hat_open"
    assert drum_data.gm_class(71) is None  # a whistle is no drum hit
    assert drum_data.name_class("Snare Rimshot (Pearl)") == "snare"
    assert drum_data.name_class("Sabian Hat Semi-Open") == "hat_open"
    assert drum_data.name_class("Cowbell") == "perc"
    assert drum_data.name_class("c3 - bass drum 1") == "kick"
    assert drum_data.name_class("Sample: beats_01-10.flac") is None


def test_oneshot_starts_at_the_onset_and_is_normalised():
    x = np.zeros(3 * SR, np.float32)
    x[5000:5100] = 0.3
    shot = drum_data.to_oneshot(x)
    assert shot.shape == (N,)
    assert np.isclose(np.max(np.abs(shot)), 0.9)
    assert np.argmax(np.abs(shot) > 0.1) == 32
    assert drum_data.to_oneshot(np.zeros(N, np.float32)) is None


def test_train_resume_export_and_load(tmp_path):
    from liveengine.decoders.registry import load_decoder
    from liveengine.training import export, train

    data = tmp_path / "data"
    data.mkdir()
    _write_data(data)
    checkpoint = tmp_path / "ckpt.pt"
    common = ["--data", str(data), "--checkpoint", str(checkpoint), "--batch", "4", "--log-every", "1", "--save-every", "0"]
    train.main(common + ["--max-steps", "2"])
    assert checkpoint.exists()
    train.main(common + ["--max-steps", "3"])  # resumes at step 2
    state = torch.load(checkpoint, map_location="cpu", weights_only=False)["state"]
    assert state["step"] == 3
    assert state["history"]  # held-out figures recorded at each save

    out = tmp_path / "drums"
    export.main(["--checkpoint", str(checkpoint), "--data", str(data), "--out", str(out)])
    for name in ("decoder.onnx", "encoder.onnx", "classifier.onnx", "dataset.csv"):
        assert (out / name).exists()

    decoder = load_decoder(str(out))  # runs the contract checks, including a sound at the latent mean
    info = decoder.info
    assert info.output == "stft" and info.sample_rate == SR and info.output_length == N
    assert info.classes == drum_data.CLASSES
    assert len(info.latent_mean) == info.latent_dim and len(info.latent_axes) >= 2
    z = np.tile(np.asarray(info.latent_mean, np.float32), (3, 1))
    z[1] += np.asarray(info.latent_axes[0], np.float32) * info.latent_spreads[0]
    audio = np.zeros((3, N), np.float32)
    decoder.decode_into(z, audio)
    assert np.all(np.isfinite(audio)) and np.max(np.abs(audio)) > 0.1

    sounds, _ = _sounds(2, 3)
    mean, logvar = decoder.encoder.run(None, {"audio": sounds})
    assert mean.shape == (2, info.latent_dim) and logvar.shape == (2, info.latent_dim)
    probabilities = decoder.classifier.run(None, {"z": mean})[0]
    assert probabilities.shape == (2, len(info.classes))
    assert np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)


def test_the_pad_plane_passes_through_the_class_centroids():
    """With three or more labelled classes the exported plane is spanned by the class centroids."""
    from liveengine.training.export import latent_statistics
    from liveengine.training.model import Config, DrumVAE

    torch.manual_seed(0)
    model = DrumVAE(Config()).eval()
    sounds, _ = _sounds(9, 4)
    classes = np.array([0, 0, 0, 3, 3, 3, 5, 5, -1], np.int16)
    stats = latent_statistics(model, sounds, classes)
    assert stats["plane"] == "class centroids"
    centroids = np.stack([stats["encodings"][classes == k].mean(axis=0) for k in (0, 3, 5)])
    assert np.allclose(stats["mean"], centroids.mean(axis=0), atol=1e-5)
    # Three centroids span a plane: the first two axes hold them exactly.
    offsets = centroids - stats["mean"]
    in_plane = offsets @ stats["axes"][:2].T @ stats["axes"][:2]
    assert np.allclose(in_plane, offsets, atol=1e-4)
    assert latent_statistics(model, sounds, np.zeros(9, np.int16))["plane"] == "encodings"


def test_samplevae_baseline_trains_resumes_exports_and_reconstructs(tmp_path):
    import sys
    from pathlib import Path

    from liveengine.training import baseline

    data = tmp_path / "data"
    data.mkdir()
    _write_data(data)
    checkpoint = tmp_path / "melvae.pt"
    common = ["--data", str(data), "--checkpoint", str(checkpoint), "--batch", "4"]
    baseline.main(common + ["--max-steps", "2"])
    baseline.main(common + ["--max-steps", "3"])
    assert torch.load(checkpoint, map_location="cpu", weights_only=False)["state"]["step"] == 3
    out = tmp_path / "samplevae"
    baseline.main(common + ["--export", str(out)])
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
    try:
        import model_quality
    finally:
        sys.path.pop(0)
    sounds, _ = _sounds(2, 5)
    audio = model_quality.baseline_reconstructions(out, sounds)
    assert audio.shape == (2, N) and np.all(np.isfinite(audio))
    assert np.max(np.abs(audio)) > 0  # Griffin-Lim of the decoded mel is sound, not silence


def test_class_power_one_draws_every_class_equally_often():
    from liveengine.training.train import sampling_weights

    classes = np.array([0] * 6 + [1] * 3 + [2] + [-1] * 2)
    group = np.array(["a"] * 8 + ["b"] * 4)
    balanced = sampling_weights(classes, group, {"a": 0.5, "b": 0.5}, class_power=1.0)
    assert np.allclose([balanced[classes == c].sum() for c in (0, 1, 2, -1)], 0.25)
    softened = sampling_weights(classes, group, {"a": 0.5, "b": 0.5})
    assert softened[classes == 0].sum() > softened[classes == 2].sum()  # the square root keeps some of the imbalance


def test_warm_start_adds_the_noise_head_and_keeps_the_sound(tmp_path):
    """A model with the noise head, warm-started from one without it, reports the new tensors, starts with the old
    magnitudes and a phase within the gate's initial share of pi of the old one, and exports with the head."""
    from liveengine.training import export, train
    from liveengine.training.model import DrumVAE

    data = tmp_path / "data"
    data.mkdir()
    _write_data(data)
    old, new = tmp_path / "old.pt", tmp_path / "new.pt"
    common = ["--data", str(data), "--batch", "4", "--log-every", "1", "--save-every", "0"]
    train.main(common + ["--checkpoint", str(old), "--max-steps", "2"])
    train.main(common + ["--checkpoint", str(new), "--init-from", str(old), "--noise-phase", "--class-power", "1", "--class-weight", "0.3",
                         "--lr", "0", "--max-steps", "1"])
    state = torch.load(new, map_location="cpu", weights_only=False)["state"]
    assert state["init_from"]["step"] == 2 and sorted(state["init_from"]["new_tensors"]) == ["decoder.noise.bias", "decoder.noise.weight"]
    assert state["runs"][-1]["class_power"] == 1.0 and state["runs"][-1]["class_weight"] == 0.3

    models = []
    for path in (old, new):
        model = DrumVAE(train.config_from(path))
        train.load(path, model, None)
        models.append(model.eval())
    assert models[1].cfg.noise_phase and models[1].decoder.noise is not None and models[0].decoder.noise is None
    z = torch.randn(3, models[0].cfg.latent_dim)
    with torch.no_grad():
        (m0, p0), (m1, p1) = models[0].decoder(z), models[1].decoder(z)
    assert torch.allclose(m0, m1)  # lr 0: the shared weights are the old ones
    gate = torch.sigmoid(torch.tensor(-4.0)).item()
    assert 0 < (p1 - p0).abs().max().item() <= gate * np.pi + 1e-4

    # The exported decoder carries the head and its fixed random phase: onnxruntime gives torch's phase.
    import onnxruntime as ort

    path = tmp_path / "decoder.onnx"
    export.export_graph(export.Graph(models[1].decoder), z, path, "z", ["magnitude", "phase"])
    magnitude, phase = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"z": z.numpy()})
    assert np.allclose(magnitude, m1.numpy(), rtol=1e-4, atol=1e-6) and np.allclose(phase, p1.numpy(), atol=1e-3)


def test_refit_classifier_learns_the_labelled_sounds_only():
    from liveengine.training.export import refit_classifier
    from liveengine.training.model import Config, DrumVAE

    torch.manual_seed(0)
    model = DrumVAE(Config()).eval()
    sounds, classes = _sounds(8, 6)
    classes = classes.astype(np.int64)
    classes[-1] = -1  # unlabelled: not trained on, not counted
    with torch.no_grad():  # an untrained encoder's posteriors are wide: narrow them, so its means alone decide
        model.encoder.head[-1].weight[model.cfg.latent_dim:] = 0.0
        model.encoder.head[-1].bias[model.cfg.latent_dim:] = -10.0
    before = [p.clone() for p in model.encoder.parameters()]
    refit = refit_classifier(model, sounds, classes, steps=150, batch=16)
    assert refit["sounds"] == 7 and sum(refit["per_class"]) == 7
    assert refit["training_accuracy"] == 1.0  # 7 points in 12 dimensions: separable
    assert all(torch.equal(a, b) for a, b in zip(before, model.encoder.parameters()))  # the encoder stays frozen


class _ShapeModel(torch.nn.Module):
    """A stand-in decoder over z[0] in [0, 1]: a noise burst whose decay time follows `shape(z0)`; `synthesise` passes
    the audio through. Real audio and the real feature, only the decoder is simple, so the term's figures are known."""

    def __init__(self, shape) -> None:
        super().__init__()
        self.shape = shape
        self.gain = torch.nn.Parameter(torch.ones(()))
        self.noise = torch.from_numpy(np.random.default_rng(0).standard_normal(N).astype(np.float32))

    def decoder(self, z):
        t = torch.arange(N, dtype=torch.float32) / SR
        tau = 0.02 + 0.5 * self.shape(z[:, :1])
        return self.gain * self.noise * torch.exp(-t / tau), None

    def synthesise(self, audio, _):
        return audio


def test_line_evenness_grows_when_the_sound_jumps_in_the_middle_of_a_line():
    from liveengine.training.model import Config
    from liveengine.training.train import LineEvenness

    evenness = LineEvenness(Config())
    a, b = torch.zeros(1, 12), torch.ones(1, 12)
    # The log power of an exponential decay is linear in 1/tau, so 1/tau even along the line is an even path until the
    # feature's floor bends it (about 0.7 here); the same decays reached through a sigmoid jump score twice that.
    with torch.no_grad():
        even = float(evenness(_ShapeModel(lambda x: (1.0 / (1.0 / 0.52 + x * (1.0 / 0.02 - 1.0 / 0.52)) - 0.02) / 0.5), a, b))
        jump = float(evenness(_ShapeModel(lambda x: torch.sigmoid(40.0 * (x - 0.5))), a, b))
        linear_tau = float(evenness(_ShapeModel(lambda x: x), a, b))
    assert even >= -1e-4  # at least 1 by the triangle inequality: the log is not negative
    assert jump > even + 0.5 and linear_tau < jump - 0.5
    # The term's gradient reaches the decoder.
    model = _ShapeModel(lambda x: torch.sigmoid(40.0 * (x - 0.5)))
    evenness(model, a, b).backward()
    assert model.gain.grad is not None and torch.isfinite(model.gain.grad)


def test_train_with_the_line_evenness_term_logs_it_and_refuses_too_many_lines(tmp_path, capsys):
    from liveengine.training import train

    data = tmp_path / "data"
    data.mkdir()
    _write_data(data)
    common = ["--data", str(data), "--checkpoint", str(tmp_path / "ckpt.pt"), "--batch", "4", "--log-every", "1", "--save-every", "0"]
    with pytest.raises(SystemExit, match=r"--smooth-weight -0.5: allowed 0 \(off\) or more"):
        train.main(common + ["--max-steps", "1", "--smooth-weight", "-0.5"])
    with pytest.raises(SystemExit, match=r"--smooth-weight nan: allowed 0 \(off\) or more"):
        train.main(common + ["--max-steps", "1", "--smooth-weight", "nan"])
    with pytest.raises(SystemExit, match="--smooth-lines 3: allowed 1 to 2"):
        train.main(common + ["--max-steps", "1", "--smooth-weight", "0.5", "--smooth-lines", "3"])
    train.main(common + ["--max-steps", "1", "--smooth-weight", "0.5", "--smooth-lines", "2"])
    assert "uneven" in capsys.readouterr().out
    state = torch.load(tmp_path / "ckpt.pt", map_location="cpu", weights_only=False)["state"]
    assert state["runs"][-1]["smooth_weight"] == 0.5


def test_line_evenness_of_a_line_between_one_sound_twice_is_zero_with_a_finite_gradient():
    """A batch can draw a sound twice; the line between the two draws has no length, and once gave NaN."""
    from liveengine.training.model import Config
    from liveengine.training.train import LineEvenness

    model = _ShapeModel(lambda x: x)
    z = torch.full((1, 12), 0.3)
    value = LineEvenness(Config())(model, z, z.clone())
    value.backward()
    assert float(value.detach()) == 0.0 and torch.isfinite(model.gain.grad)
    both = LineEvenness(Config())(model, torch.cat([z, torch.zeros(1, 12)]), torch.cat([z, torch.ones(1, 12)]))
    assert np.isfinite(float(both.detach())) and float(both.detach()) > 0  # the real line counts, the empty one is left out


def test_a_batch_with_a_non_finite_loss_is_skipped_and_leaves_the_weights_as_they_were():
    from liveengine.training.model import Config, DrumVAE, MultiResolutionSTFTLoss
    from liveengine.training.train import train_step

    torch.manual_seed(0)
    model = DrumVAE(Config())
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    before = [p.detach().clone() for p in model.parameters()]
    sounds, classes = _sounds(2, 0)
    x = torch.from_numpy(sounds.copy())
    x[0, 100] = float("nan")
    parts = train_step(model, optimizer, MultiResolutionSTFTLoss(), x, torch.from_numpy(classes).long(), 0.005)
    assert parts["skipped"] == 1.0
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    parts = train_step(model, optimizer, MultiResolutionSTFTLoss(), torch.from_numpy(sounds), torch.from_numpy(classes).long(), 0.005)
    assert "skipped" not in parts and not all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
