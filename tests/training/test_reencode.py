"""A new encoder for a trained drum model (liveengine/training/reencode.py): the decoder and head stay as they were,
both stages run and resume, and the export keeps the old model's pad plane.

Needs the `train` extra (PyTorch); the normal suite skips it without."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")

from test_train_smoke import _sounds, _write_data  # noqa: E402


def _trained(tmp_path):
    """A tiny data set (`data`), a model trained 2 steps on it (`drums.pt`) and its export (`drums/`), in `tmp_path`.
    Built once per test run and copied: 16 tests start from it and each may change its copy. The pytest-xdist
    workers share one build (a train and an export: 7 s on 2 cores, each worker building its own cost three)."""
    import fcntl
    import os
    import shutil
    import tempfile

    from liveengine.training import export, train

    # pytest's folder for this run: tmp_path's parent, or under pytest-xdist the parent of this worker's folder
    run = tmp_path.parent.parent if os.environ.get("PYTEST_XDIST_WORKER") else tmp_path.parent
    built = run / "liveengine-trained"
    with open(run / "liveengine-trained.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one worker builds; the others wait for it, then copy
        if not built.exists():
            making = Path(tempfile.mkdtemp(prefix="liveengine-trained-", dir=run))  # a failed build's leftovers never block the next
            (making / "data").mkdir()
            _write_data(making / "data")
            train.main(["--data", str(making / "data"), "--checkpoint", str(making / "drums.pt"), "--batch", "4", "--max-steps", "2",
                        "--save-every", "0"])
            export.main(["--checkpoint", str(making / "drums.pt"), "--data", str(making / "data"), "--out", str(making / "drums")])
            making.rename(built)  # whole or not at all: a worker killed while building leaves no half build
    for name in ("data", "drums"):
        shutil.copytree(built / name, tmp_path / name)
    shutil.copy2(built / "drums.pt", tmp_path / "drums.pt")
    return tmp_path / "data", tmp_path / "drums.pt"


def test_reencode_trains_both_stages_resumes_and_keeps_the_decoder_and_head(tmp_path, capsys):
    from liveengine.training import reencode, train
    from liveengine.training.model import DrumVAE, Encoder2D

    data, source = _trained(tmp_path)
    checkpoint = tmp_path / "drums4.pt"
    common = ["--from", str(source), "--data", str(data), "--checkpoint", str(checkpoint), "--batch", "4",
              "--distill-steps", "2", "--tune-steps", "5", "--log-every", "1", "--save-every", "0"]
    reencode.main(common + ["--max-steps", "2"])  # stage 1 only
    reencode.main(common + ["--max-steps", "4"])  # resumes at step 2: stage 2
    log = capsys.readouterr().out
    assert "step 2 stage 1" in log and "resumed from" in log and "step 3 stage 2" in log and "logmag" in log.split("step 3 stage 2")[1]
    state = torch.load(checkpoint, map_location="cpu", weights_only=False)["state"]
    assert state["step"] == 4 and state["reencode"]["from"] == "drums.pt" and state["history"][-1]["step"] == 4

    old, new = DrumVAE(train.config_from(source)), DrumVAE(train.config_from(checkpoint))
    train.load(source, old, None)
    train.load(checkpoint, new, None)
    assert new.cfg.encoder == "mel2d" and isinstance(new.encoder, Encoder2D)
    for part in ("decoder", "classifier"):
        for (name, a), b in zip(getattr(old, part).state_dict().items(), getattr(new, part).state_dict().values()):
            assert torch.equal(a, b), f"{part}.{name} changed"
    sounds = torch.from_numpy(_sounds(2, 7)[0])
    with torch.no_grad():
        assert not torch.allclose(old.eval().encoder(sounds)[0], new.eval().encoder(sounds)[0])


def test_a_resume_from_another_model_and_a_missing_source_are_refused(tmp_path):
    from liveengine.training import reencode

    data, source = _trained(tmp_path)
    checkpoint = tmp_path / "drums4.pt"
    reencode.main(["--from", str(source), "--data", str(data), "--checkpoint", str(checkpoint), "--batch", "4", "--max-steps", "1"])
    other = tmp_path / "other.pt"
    other.write_bytes(source.read_bytes())
    with pytest.raises(SystemExit, match="was not trained by reencode from other.pt"):
        reencode.main(["--from", str(other), "--data", str(data), "--checkpoint", str(checkpoint), "--max-steps", "2"])
    with pytest.raises(SystemExit, match=r"was begun with --distill-steps 4000 --tune-steps 8000; resume it with the same"):
        reencode.main(["--from", str(source), "--data", str(data), "--checkpoint", str(checkpoint), "--tune-steps", "10"])
    with pytest.raises(SystemExit, match=r"was begun with retune 0.0; resume it with the same"):
        reencode.main(["--from", str(source), "--data", str(data), "--checkpoint", str(checkpoint), "--retune", "3"])
    for wrong in (["--tune-steps", "-1"], ["--class-weight", "-0.5"], ["--retune", "-2"], ["--envelope-weight", "-1"],
                  ["--decoder-rate", "-0.1"], ["--layer-claps", "1.5"], ["--layer-claps", "-0.2"], ["--open-hats", "2"],
                  ["--vary-open", "1.5"], ["--vary-open", "-0.5"], ["--hold-open", "-1"], ["--hold-open", "nan"], ["--hold-claps", "-2"],
                  ["--envelope-weight", "inf"], ["--minutes", "nan"]):
        with pytest.raises(SystemExit, match=r"--minutes must be above 0, --distill-steps, --tune-steps, --class-weight, --retune, "
                                             r"--envelope-weight, --decoder-rate, --hold-open, --hold-claps and --hear-blends finite numbers 0 or more, --layer-claps, --open-hats, --vary, --vary-open and --vary-cymbals from 0 to 1, "
                                             r"--batch 2 or more"):
            reencode.main(["--from", str(source), "--data", str(data), "--checkpoint", str(tmp_path / "y.pt")] + wrong)
    assert not (tmp_path / "y.pt").exists()
    with pytest.raises(SystemExit, match="no such checkpoint"):
        reencode.main(["--from", str(tmp_path / "none.pt"), "--data", str(data), "--checkpoint", str(tmp_path / "x.pt")])


def test_the_export_keeps_the_source_plane_and_the_onnx_encoder_matches_torch(tmp_path):
    from liveengine.decoders.registry import load_decoder
    from liveengine.training import export, reencode, train
    from liveengine.training.model import DrumVAE

    data, source = _trained(tmp_path)
    checkpoint = tmp_path / "drums4.pt"
    reencode.main(["--from", str(source), "--data", str(data), "--checkpoint", str(checkpoint), "--batch", "4",
                   "--distill-steps", "1", "--max-steps", "2"])
    out = tmp_path / "drums4"
    export.main(["--checkpoint", str(checkpoint), "--data", str(data), "--out", str(out), "--name", "drums4",
                 "--plane-from", str(tmp_path / "drums")])
    old, new = load_decoder(str(tmp_path / "drums")).info, load_decoder(str(out)).info
    assert new.name == "drums4"
    assert np.allclose(new.latent_mean, old.latent_mean) and np.allclose(new.latent_axes, old.latent_axes)
    assert np.allclose(new.latent_spreads, old.latent_spreads)

    decoder = load_decoder(str(out))
    model = DrumVAE(train.config_from(checkpoint))
    train.load(checkpoint, model, None)
    sounds = _sounds(3, 8)[0]
    with torch.no_grad():
        mean = model.eval().encoder(torch.from_numpy(sounds))[0].numpy()
    assert np.allclose(decoder.encoder.run(None, {"audio": sounds})[0], mean, atol=1e-4)

    with pytest.raises(SystemExit, match="no decoder.onnx there"):
        export.main(["--checkpoint", str(checkpoint), "--data", str(data), "--out", str(tmp_path / "x"), "--plane-from", str(tmp_path)])


def test_stage_two_rate_falls_from_three_tenths_to_zero():
    from liveengine.training.reencode import tune_rate

    assert tune_rate(1e-3, 0, 100) == pytest.approx(3e-4)
    assert tune_rate(1e-3, 50, 100) == pytest.approx(1.5e-4)
    assert tune_rate(1e-3, 100, 100) == pytest.approx(0.0, abs=1e-12) and tune_rate(1e-3, 200, 100) == pytest.approx(0.0, abs=1e-12)


def test_the_log_line_gives_the_means_since_the_last_line_and_starts_again():
    from liveengine.training.train import Running

    running = Running()
    running.add({"sc": 1.0, "ce": 0.5})
    running.add({"sc": 0.5, "ce": 0.25})
    assert running.line() == "sc 0.7500 ce 0.3750"
    running.add({"sc": 0.2})
    assert running.line() == "sc 0.2000" and running.line() == ""


def test_plane_from_a_model_without_a_plane_or_of_another_size_is_refused_in_one_sentence():
    from liveengine.training.export import plane_of

    models = Path(__file__).resolve().parents[2] / "models_onnx"
    assert plane_of(models / "drums", 12)["mean"].shape == (12,)
    with pytest.raises(ValueError, match=r"drums: its plane is 12-d, this model's latent is 8-d"):
        plane_of(models / "drums", 8)
    with pytest.raises(ValueError, match=r"voices2: its decoder metadata has no liveengine.latent.mean; give a model folder with a pad plane"):
        plane_of(models / "voices2", 12)


def test_a_checkpoint_naming_an_unknown_encoder_is_refused_in_one_sentence():
    from dataclasses import replace

    from liveengine.training.model import Config, DrumVAE

    with pytest.raises(ValueError, match=r"encoder 'mel3d' is not one of mel1d, mel2d"):
        DrumVAE(replace(Config(), encoder="mel3d"))


def _listening_folder(tmp_path, source, share=0.6):
    """The exported source model with a listening class head (random, untrained) of `share` and clap deferred."""
    from liveengine.training import train
    from liveengine.training.class_head import LatentHead, MixedHead, export_head
    from liveengine.training.model import DrumVAE

    model = DrumVAE(train.config_from(source))
    train.load(source, model, None)
    torch.manual_seed(3)
    classes = len(model.cfg.classes)
    head = MixedHead(LatentHead(model.cfg.latent_dim, classes, hidden=16), model.classifier, share, [model.cfg.classes.index("clap")])
    export_head(head.eval(), tmp_path / "drums")
    return model, head


def test_a_listening_head_is_read_back_from_its_onnx_file_with_its_share_and_refused_for_any_other(tmp_path):
    from liveengine.training.class_head import load_head

    data, source = _trained(tmp_path)
    plain = (tmp_path / "drums" / "classifier.onnx").read_bytes()
    model, written = _listening_folder(tmp_path, source)
    head = load_head(tmp_path / "drums", model.classifier)
    assert head.share == pytest.approx(0.6, abs=1e-4) and head.deferred.tolist() == written.deferred.tolist()
    z = torch.randn(32, model.cfg.latent_dim)
    with torch.no_grad():
        assert torch.allclose(head(z), written(z), atol=1e-5)
        next(model.classifier.parameters()).add_(0.1)  # now another model's own head: refused
    with pytest.raises(ValueError, match=r"classifier.onnx: its own head is not this model's \(weight .* differs\)"):
        load_head(tmp_path / "drums", model.classifier)
    (tmp_path / "drums" / "classifier.onnx").write_bytes(plain)
    with pytest.raises(ValueError, match="not a listening class head"):
        load_head(tmp_path / "drums", model.classifier)
    with pytest.raises(ValueError, match="no classifier.onnx"):
        load_head(tmp_path, model.classifier)


def test_the_own_encoder_starts_from_the_source_and_learns_from_a_listening_head(tmp_path, capsys):
    from liveengine.training import reencode, train
    from liveengine.training.model import DrumVAE

    data, source = _trained(tmp_path)
    _listening_folder(tmp_path, source)
    checkpoint = tmp_path / "drums9.pt"
    common = ["--from", str(source), "--data", str(data), "--checkpoint", str(checkpoint), "--batch", "4", "--encoder", "own",
              "--head-from", str(tmp_path / "drums"), "--tune-steps", "3", "--log-every", "1", "--save-every", "0", "--retune", "2"]
    reencode.main(common + ["--max-steps", "1"])
    old, first = DrumVAE(train.config_from(source)), DrumVAE(train.config_from(checkpoint))
    train.load(source, old, None)
    train.load(checkpoint, first, None)
    assert first.cfg.encoder == old.cfg.encoder and type(first.encoder) is type(old.encoder)
    moved = [float((a - b).detach().abs().max()) for a, b in zip(old.encoder.parameters(), first.encoder.parameters())]
    assert 0 < max(moved) < 0.05  # one small step from the source's weights, not a fresh encoder
    reencode.main(common + ["--max-steps", "3"])
    assert "resumed from" in capsys.readouterr().out
    state = torch.load(checkpoint, map_location="cpu", weights_only=False)["state"]
    assert state["step"] == 3 and state["reencode"]["encoder"] == "own" and state["reencode"]["head_from"] == "drums" and state["reencode"]["retune"] == 2.0
    assert state["reencode"]["distill_steps"] == 0  # starting from the source's encoder, no stage 1 by default
    new = DrumVAE(train.config_from(checkpoint))
    train.load(checkpoint, new, None)
    for part in ("decoder", "classifier"):  # the source's head is kept in the model; the listening head only teaches
        for a, b in zip(getattr(old, part).state_dict().values(), getattr(new, part).state_dict().values()):
            assert torch.equal(a, b)
    with pytest.raises(SystemExit, match=r"was begun with encoder own; resume it with the same"):
        reencode.main([a for a in common if a not in ("--encoder", "own")] + ["--distill-steps", "0", "--max-steps", "4"])
    with pytest.raises(SystemExit, match=r"was begun with head_from drums; resume it with the same"):
        reencode.main(common[: common.index("--head-from")] + common[common.index("--head-from") + 2:] + ["--max-steps", "4"])
    with pytest.raises(SystemExit, match=r"--head-from .*: .*no classifier.onnx; give a model folder whose class head listens"):
        reencode.main(["--from", str(source), "--data", str(data), "--checkpoint", str(tmp_path / "x.pt"), "--head-from", str(tmp_path)])
    assert not (tmp_path / "x.pt").exists()


def test_the_class_term_comes_from_the_head_given():
    from liveengine.training.model import Config, DrumVAE, MultiResolutionSTFTLoss
    from liveengine.training.reencode import LogProbabilities
    from liveengine.training.train import losses

    torch.manual_seed(0)
    model = DrumVAE(Config())
    classes = len(model.cfg.classes)

    class Even(torch.nn.Module):
        def forward(self, z):
            return torch.full((len(z), classes), 1.0 / classes)

    audio = torch.from_numpy(_sounds(2, 4)[0])
    _, parts = losses(model, MultiResolutionSTFTLoss(), audio, torch.tensor([0, 3]), 0.0, head=LogProbabilities(Even()))
    assert parts["ce"] == pytest.approx(np.log(classes), rel=1e-5)
    _, own = losses(model, MultiResolutionSTFTLoss(), audio, torch.tensor([0, 3]), 0.0, sample=False)
    assert own["ce"] != pytest.approx(np.log(classes), rel=1e-3)


def test_encoders_learn_together_through_their_mean_resume_and_export_as_one(tmp_path, capsys):
    from liveengine.decoders.registry import load_decoder
    from liveengine.training import reencode, tail, train
    from liveengine.training.model import DrumVAE, Encoder, Encoder2D, MeanEncoder

    data, source = _trained(tmp_path)
    second = tmp_path / "second.pt"  # a 2-D encoder of the same decoder
    reencode.main(["--from", str(source), "--data", str(data), "--checkpoint", str(second), "--batch", "4",
                   "--distill-steps", "1", "--max-steps", "2"])
    checkpoint = tmp_path / "joint.pt"
    common = ["--from", str(source), "--data", str(data), "--checkpoint", str(checkpoint), "--batch", "4", "--encoder", "mean",
              "--encoders-from", str(second), "--tune-steps", "3", "--save-every", "0"]
    reencode.main(common + ["--max-steps", "1"])
    reencode.main(common + ["--max-steps", "3"])
    assert "resumed from" in capsys.readouterr().out
    state = torch.load(checkpoint, map_location="cpu", weights_only=False)["state"]
    assert state["step"] == 3 and state["reencode"]["encoders_from"] == ["second.pt"] and state["reencode"]["distill_steps"] == 0

    models = {}
    for path in (source, second, checkpoint):
        models[path.stem] = DrumVAE(train.config_from(path))
        train.load(path, models[path.stem], None)
    joint = models["joint"].eval()
    assert joint.cfg.encoder == "mean" and joint.cfg.mean_of == ("mel1d", "mel2d") and isinstance(joint.encoder, MeanEncoder)
    assert isinstance(joint.encoder.parts[0], Encoder) and isinstance(joint.encoder.parts[1], Encoder2D)
    for part, start in zip(joint.encoder.parts, (models["drums"].encoder, models["second"].encoder)):
        moved = [float((a - b).detach().abs().max()) for a, b in zip(part.parameters(), start.parameters())]
        assert 0 < max(moved) < 0.05  # each learnt from its own weights
    for part in ("decoder", "classifier"):
        for a, b in zip(getattr(models["drums"], part).state_dict().values(), getattr(joint, part).state_dict().values()):
            assert torch.equal(a, b)

    out = tmp_path / "joint_model"  # the checkpoint of a mean exports as one encoder, its description says so
    tail.main(["--checkpoint", str(checkpoint), "--data", str(data), "--out", str(out), "--name", "joint", "--plane-from", str(tmp_path / "drums")])
    sounds = _sounds(3, 8)[0]
    faded = sounds / np.abs(sounds).max(axis=1, keepdims=True)
    faded[:, -2205:] *= np.linspace(1.0, 0.0, 2205, dtype=np.float32)
    with torch.no_grad():
        each = [p(torch.from_numpy(faded))[0].numpy() for p in joint.encoder.parts]
    longer = np.concatenate([sounds, np.zeros((3, 13230), np.float32)], axis=1)
    exported = load_decoder(str(out))
    assert np.allclose(exported.encode(longer), (each[0] + each[1]) / 2, atol=1e-4)
    assert "its encoder the mean of 2 encoders (mel1d, mel2d)" in exported.info.description

    with pytest.raises(SystemExit, match=r"was begun with encoders_from \['second.pt'\]; resume it with the same"):
        reencode.main([str(source) if a == str(second) else a for a in common] + ["--max-steps", "4"])
    base = ["--from", str(source), "--data", str(data), "--checkpoint", str(tmp_path / "x.pt")]
    with pytest.raises(SystemExit, match=r"--encoder mean: give --encoders-from one or more checkpoints of --from's decoder"):
        reencode.main(base + ["--encoder", "mean"])
    with pytest.raises(SystemExit, match=r"--encoders-from goes with --encoder mean"):
        reencode.main(base + ["--encoder", "own", "--encoders-from", str(second)])
    other = tmp_path / "other.pt"  # another decoder: trained afresh
    train.main(["--data", str(data), "--checkpoint", str(other), "--batch", "4", "--max-steps", "3", "--save-every", "0", "--seed", "5"])
    with pytest.raises(SystemExit, match=r"--encoders-from .*other.pt: its decoder is not --from's"):
        reencode.main(base + ["--encoder", "mean", "--encoders-from", str(other)])
    with pytest.raises(SystemExit, match=r"--encoders-from .*none.pt: no such checkpoint"):
        reencode.main(base + ["--encoder", "mean", "--encoders-from", str(tmp_path / "none.pt")])
    assert not (tmp_path / "x.pt").exists()


def test_the_cepstral_distance_is_the_bench_mcd_and_has_a_gradient_where_two_sounds_agree(monkeypatch):
    from liveengine.training.model import CepstralDistance

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[2] / "bench"))
    from model_quality import mcd, normalise

    sounds = [normalise(s) for s in _sounds(6, 3)[0]]
    distance = CepstralDistance(44100)
    for ref, est in zip(sounds[:3], sounds[3:]):
        ours = distance(torch.from_numpy(est[None]), torch.from_numpy(ref[None])).item() * 10 / np.log(10)
        assert ours == pytest.approx(mcd(ref, est), rel=0.05)  # the floor is added here, clamped there
        assert ours > 1.0
    same = torch.from_numpy(sounds[0][None]).requires_grad_(True)
    value = distance(same, torch.from_numpy(sounds[0][None]))
    value.backward()
    assert value.item() < 1e-3 and torch.isfinite(same.grad).all()
    louder = distance(torch.from_numpy(4 * sounds[3][None]), torch.from_numpy(sounds[0][None])).item()
    assert louder == pytest.approx(distance(torch.from_numpy(sounds[3][None]), torch.from_numpy(sounds[0][None])).item(), rel=0.05)


def test_the_envelope_term_moves_the_encoder_is_logged_and_kept_by_a_resume(tmp_path, capsys):
    from liveengine.training import reencode, train
    from liveengine.training.model import DrumVAE

    data, source = _trained(tmp_path)
    trained = {}
    for weight in ("0", "2"):
        checkpoint = tmp_path / f"w{weight}.pt"
        reencode.main(["--from", str(source), "--data", str(data), "--checkpoint", str(checkpoint), "--batch", "4", "--encoder", "own",
                       "--tune-steps", "3", "--max-steps", "2", "--log-every", "1", "--save-every", "0", "--envelope-weight", weight])
        trained[weight] = DrumVAE(train.config_from(checkpoint))
        train.load(checkpoint, trained[weight], None)
        log = capsys.readouterr().out
        assert ("mcd" in log.split("step 1 stage 2")[1].splitlines()[0]) == (weight == "2")  # the term's mean, in the step line
        assert " dB" in log.split("held-out sc")[-1].splitlines()[0]  # monitored either way
    state = torch.load(tmp_path / "w2.pt", map_location="cpu", weights_only=False)["state"]
    assert state["reencode"]["envelope_weight"] == 2.0 and "heldout_mcd_db" in state["history"][-1]
    sounds = torch.from_numpy(_sounds(2, 7)[0])
    with torch.no_grad():  # same seed, same batches: only the term differs
        assert not torch.allclose(trained["0"].eval().encoder(sounds)[0], trained["2"].eval().encoder(sounds)[0])
    with pytest.raises(SystemExit, match=r"was begun with envelope_weight 2.0; resume it with the same"):
        reencode.main(["--from", str(source), "--data", str(data), "--checkpoint", str(tmp_path / "w2.pt"), "--encoder", "own",
                       "--tune-steps", "3", "--envelope-weight", "1"])


def test_the_decoder_learns_in_stage_two_only_when_asked_and_the_head_never(tmp_path):
    from liveengine.training import reencode, train
    from liveengine.training.model import DrumVAE

    data, source = _trained(tmp_path)
    old = DrumVAE(train.config_from(source))
    train.load(source, old, None)
    trained = {}
    for rate in ("0", "0.5"):
        checkpoint = tmp_path / f"r{rate}.pt"
        reencode.main(["--from", str(source), "--data", str(data), "--checkpoint", str(checkpoint), "--batch", "4", "--encoder", "own",
                       "--distill-steps", "1", "--tune-steps", "2", "--save-every", "0", "--decoder-rate", rate])
        trained[rate] = DrumVAE(train.config_from(checkpoint))
        state = train.load(checkpoint, trained[rate], None)
        assert state["step"] == 3 and state["reencode"]["decoder_rate"] == float(rate)
    for rate, model in trained.items():
        for part in ("decoder", "classifier"):
            same = all(torch.equal(a, b) for a, b in zip(getattr(old, part).state_dict().values(), getattr(model, part).state_dict().values()))
            assert same == (part == "classifier" or rate == "0"), f"--decoder-rate {rate}: {part} {'kept' if same else 'changed'}"
    first = tmp_path / "stage1.pt"  # stage 1 (the encoder regressing the old one) leaves the decoder as it was
    reencode.main(["--from", str(source), "--data", str(data), "--checkpoint", str(first), "--batch", "4", "--encoder", "own",
                   "--distill-steps", "1", "--tune-steps", "2", "--max-steps", "1", "--save-every", "0", "--decoder-rate", "0.5"])
    after_one = DrumVAE(train.config_from(first))
    train.load(first, after_one, None)
    assert all(torch.equal(a, b) for a, b in zip(old.decoder.state_dict().values(), after_one.decoder.state_dict().values()))
    with pytest.raises(SystemExit, match=r"was begun with decoder_rate 0.5; resume it with the same"):
        reencode.main(["--from", str(source), "--data", str(data), "--checkpoint", str(tmp_path / "r0.5.pt"), "--encoder", "own",
                       "--distill-steps", "1", "--tune-steps", "2"])


def test_claps_alone_are_layered_open_hats_opened_the_studio_runs_when_asked_and_a_resume_keeps_them(tmp_path, monkeypatch):
    from test_train_smoke import write_data_set

    from liveengine.training import augment, reencode, train
    from liveengine.training.data import CLASSES

    data, source = _trained(tmp_path)
    sounds, classes = _sounds(6, 0)
    classes[:] = [CLASSES.index(name) for name in ("kick", "clap", "hat_closed", "clap", "hat_open", "hat_closed")]
    write_data_set(data, sounds, classes, *_sounds(4, 1))
    audio, loaded_classes, _, _ = train.load_training_set(data, 1.0)
    claps, others = audio[loaded_classes == CLASSES.index("clap")], audio[loaded_classes != CLASSES.index("clap")]
    closed, not_closed = audio[loaded_classes == CLASSES.index("hat_closed")], audio[loaded_classes != CLASSES.index("hat_closed")]
    seen = {"layered": [], "opened": [], "studio": 0}

    real_opened, real_layered = augment.opened, augment.layered

    def spy_opened(x, rng, **kw):
        seen["opened"].extend(x.numpy().copy())
        return real_opened(x, rng, **kw)

    def spy_layered(x, rng):
        seen["layered"].extend(x.numpy().copy())
        return real_layered(x, rng)

    def spy_studio(x, rng):
        seen["studio"] += 1
        return augment.studio(x, rng)

    monkeypatch.setattr(augment, "layered", spy_layered)  # augment.class_variants calls them
    monkeypatch.setattr(reencode, "studio", spy_studio)
    monkeypatch.setattr(augment, "opened", spy_opened)
    checkpoint = tmp_path / "claps.pt"
    common = ["--from", str(source), "--data", str(data), "--checkpoint", str(checkpoint), "--batch", "6", "--encoder", "own",
              "--tune-steps", "3", "--save-every", "0", "--layer-claps", "1", "--open-hats", "1"]
    reencode.main(common + ["--studio", "--max-steps", "2"])
    assert seen["studio"] == 2 and len(seen["layered"]) > 0 and len(seen["opened"]) > 0
    for row in seen["opened"]:  # what is opened is a closed hat of the data set
        assert np.abs(closed - row).max(1).min() < 1e-6 and np.abs(not_closed - row).max(1).min() > 1e-3
    for row in seen["layered"]:  # each a training clap as the data set holds it, never another class; a clap layered in
        # place in the run's copy of the data set would not match when drawn again
        assert np.abs(claps - row).max(1).min() < 1e-6 and np.abs(others - row).max(1).min() > 1e-3
    state = torch.load(checkpoint, map_location="cpu", weights_only=False)["state"]["reencode"]
    assert state["layer_claps"] == 1.0 and state["open_hats"] == 1.0 and state["studio"] is True
    with pytest.raises(SystemExit, match=r"was begun with studio True; resume it with the same"):
        reencode.main(common)
    with pytest.raises(SystemExit, match=r"was begun with layer_claps 1.0; resume it with the same"):
        reencode.main(common[:-4] + ["--open-hats", "1", "--studio"])
    with pytest.raises(SystemExit, match=r"was begun with open_hats 1.0; resume it with the same"):
        reencode.main(common[:-2] + ["--studio"])
    reencode.main(common + ["--studio"])  # the same settings resume to the end
    assert torch.load(checkpoint, map_location="cpu", weights_only=False)["state"]["step"] == 3 and seen["studio"] == 3
    varied = []
    monkeypatch.setattr(augment, "varied", lambda x, rng, semitones, damping: varied.extend(x.numpy().copy()) or x * 0.5)
    reencode.main(common[:-4] + ["--vary", "1", "--checkpoint", str(tmp_path / "varied.pt"), "--max-steps", "2"])
    assert varied and all(np.abs(np.concatenate([claps, audio[loaded_classes == CLASSES.index("hat_open")]]) - row).max(1).min() < 1e-6
                          for row in varied)  # claps and open hats as the data set holds them, nothing else
    assert torch.load(tmp_path / "varied.pt", map_location="cpu", weights_only=False)["state"]["reencode"]["vary"] == 1.0
    with pytest.raises(SystemExit, match=r"was begun with vary 1.0; resume it with the same"):
        reencode.main(common[:-4] + ["--checkpoint", str(tmp_path / "varied.pt")])
    for wrong in (["--vary", "2"], ["--vary-cymbals", "1.5"]):
        with pytest.raises(SystemExit, match=r"--layer-claps, --open-hats, --vary, --vary-open and --vary-cymbals from 0 to 1"):
            reencode.main(common + wrong)
    reencode.main(common[:-4] + ["--vary-cymbals", "0.5", "--checkpoint", str(tmp_path / "cymbals.pt"), "--max-steps", "1"])
    assert torch.load(tmp_path / "cymbals.pt", map_location="cpu", weights_only=False)["state"]["reencode"]["vary_cymbals"] == 0.5
    with pytest.raises(SystemExit, match=r"was begun with vary_cymbals 0.5; resume it with the same"):
        reencode.main(common[:-4] + ["--checkpoint", str(tmp_path / "cymbals.pt")])
    varied.clear()  # --vary-open 0: the claps alone are varied, and a resume must say the same
    reencode.main(common[:-4] + ["--vary", "1", "--vary-open", "0", "--checkpoint", str(tmp_path / "claps_varied.pt"), "--max-steps", "2"])
    assert varied and all(np.abs(claps - row).max(1).min() < 1e-6 for row in varied)
    assert torch.load(tmp_path / "claps_varied.pt", map_location="cpu", weights_only=False)["state"]["reencode"]["vary_open"] == 0.0
    with pytest.raises(SystemExit, match=r"was begun with vary_open 0.0; resume it with the same"):
        reencode.main(common[:-4] + ["--vary", "1", "--checkpoint", str(tmp_path / "claps_varied.pt")])
    classes[:] = CLASSES.index("kick")  # a data set without a closed hat has nothing to open
    write_data_set(data, sounds, classes, *_sounds(4, 1))
    with pytest.raises(SystemExit, match=r"--open-hats: .* holds no closed hat to open"):
        reencode.main(["--from", str(source), "--data", str(data), "--checkpoint", str(tmp_path / "none.pt"), "--encoder", "own",
                       "--open-hats", "0.5"])
    assert not (tmp_path / "none.pt").exists()


def test_held_open_hats_and_claps_stay_near_the_source_models_renders_while_the_decoder_learns(tmp_path, capsys):
    from liveengine.training import reencode, train
    from liveengine.training.data import CLASSES
    from liveengine.training.model import DrumVAE, log_l1
    from test_train_smoke import write_data_set

    data, source = _trained(tmp_path)
    sounds, classes = _sounds(6, 0)
    opens = classes == CLASSES.index("hat_closed")
    claps = ~opens
    classes[opens] = CLASSES.index("hat_open")  # the noise bursts, as open hats
    classes[claps] = CLASSES.index("clap")  # the decaying sines, as claps
    write_data_set(data, sounds, classes, *_sounds(4, 1))
    old = DrumVAE(train.config_from(source))
    train.load(source, old, None)
    x = torch.from_numpy(sounds)
    with torch.no_grad():
        before = old.eval().decoder(old.encoder(x)[0])[0]
    drift, logs = {}, {}
    for name, held in (("none", []), ("open", ["--hold-open", "20"]), ("claps", ["--hold-claps", "20"])):
        checkpoint = tmp_path / f"{name}.pt"
        reencode.main(["--from", str(source), "--data", str(data), "--checkpoint", str(checkpoint), "--batch", "6", "--encoder", "own",
                       "--tune-steps", "6", "--decoder-rate", "3", "--log-every", "1", "--save-every", "0"] + held)
        logs[name] = capsys.readouterr().out
        model = DrumVAE(train.config_from(checkpoint))
        state = train.load(checkpoint, model, None)
        assert state["step"] == 6
        assert (state["reencode"]["hold_open"], state["reencode"]["hold_claps"]) == {"none": (0, 0), "open": (20, 0), "claps": (0, 20)}[name]
        with torch.no_grad():
            after = model.eval().decoder(model.encoder(x)[0])[0]
        drift[name] = {"open": log_l1(after[opens], before[opens]).item(), "clap": log_l1(after[claps], before[claps]).item()}
    assert " hold " in logs["open"] and " hold " in logs["claps"] and " hold " not in logs["none"]
    assert 0 < drift["open"]["open"] < 0.5 * drift["none"]["open"], drift  # the open hats' renders kept near the source's
    assert 0 < drift["claps"]["clap"] < 0.5 * drift["none"]["clap"], drift  # and the claps' by their own weight
    with pytest.raises(SystemExit, match=r"was begun with hold_open 20.0; resume it with the same"):
        reencode.main(["--from", str(source), "--data", str(data), "--checkpoint", str(tmp_path / "open.pt"), "--encoder", "own",
                       "--tune-steps", "6", "--decoder-rate", "3"])
    with pytest.raises(SystemExit, match=r"was begun with hold_claps 20.0; resume it with the same"):
        reencode.main(["--from", str(source), "--data", str(data), "--checkpoint", str(tmp_path / "claps.pt"), "--encoder", "own",
                       "--tune-steps", "6", "--decoder-rate", "3"])


def test_blends_are_laid_as_the_corners_grid_lays_them_heard_and_taught_to_the_decoder_alone(tmp_path, capsys):
    """--hear-blends: the points between four sounds are CornersMapping's, the term's gradient reaches the decoder and
    not the encoder, and the command runs it, keeps it for a resume and refuses it without what it needs."""
    from liveengine.grid.mappings import CornersMapping
    from liveengine.training import class_head, reencode, train
    from liveengine.training.model import DrumVAE

    data, source = _trained(tmp_path)
    model = DrumVAE(train.config_from(source))
    train.load(source, model, None)
    listener = tmp_path / "drums_listener.pt"
    torch.manual_seed(0)
    torch.save({"listener": class_head.Listener(len(model.cfg.classes), model.cfg.n_mels).state_dict(), "settings": {}}, listener)
    blends = reencode.BlendsHeard.load(listener, tmp_path / "drums", model)

    generator = np.random.default_rng(4)
    corners = generator.standard_normal((3, 4, model.cfg.latent_dim))
    u, v = generator.random(3), generator.random(3)
    got = blends.lay(torch.from_numpy(corners.astype(np.float32)), torch.from_numpy(u.astype(np.float32)), torch.from_numpy(v.astype(np.float32)))
    origin = blends.origin.numpy().astype(np.float64)
    for i in range(3):  # CornersMapping takes a view position in -SQUARE..SQUARE: (u, v) from 0..1
        from liveengine.grid.mappings import SQUARE

        want = CornersMapping(corners[i], origin).to_latent(np.array([(u[i] - 0.5) * 2 * SQUARE, (v[i] - 0.5) * 2 * SQUARE]))
        assert np.allclose(got[i].numpy(), want, atol=1e-4)

    sounds, classes = _sounds(6, 0)
    model.train()
    heard = blends(model, torch.from_numpy(sounds), torch.from_numpy(classes.astype(np.int64)), np.random.default_rng(0))
    assert heard is not None and heard.item() > 0
    heard.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.decoder.parameters())
    assert all(p.grad is None for p in model.encoder.parameters())  # the encodings are the blends' fixed corners
    assert blends(model, torch.from_numpy(sounds[:3]), torch.from_numpy(classes[:3].astype(np.int64)), np.random.default_rng(0)) is None

    common = ["--from", str(source), "--data", str(data), "--batch", "6", "--encoder", "own", "--tune-steps", "3", "--decoder-rate", "1",
              "--log-every", "1", "--save-every", "0", "--listener", str(listener), "--blends-around", str(tmp_path / "drums")]
    checkpoint = tmp_path / "blends.pt"
    reencode.main(common + ["--checkpoint", str(checkpoint), "--hear-blends", "0.5"])
    assert " blends " in capsys.readouterr().out
    state = train.load(checkpoint, DrumVAE(train.config_from(checkpoint)), None)
    assert state["reencode"]["hear_blends"] == 0.5 and state["reencode"]["listener"] == "drums_listener.pt"
    with pytest.raises(SystemExit, match=r"was begun with hear_blends 0.5; resume it with the same"):
        reencode.main(common + ["--checkpoint", str(checkpoint), "--hear-blends", "1"])
    reencode.main(common + ["--checkpoint", str(checkpoint), "--hear-blends", "0.5", "--tune-steps", "3"])  # the same listener resumes
    assert "resumed from" in capsys.readouterr().out
    torch.manual_seed(1)  # another listener under the same name: its file's hash, not its name, tells
    torch.save({"listener": class_head.Listener(len(model.cfg.classes), model.cfg.n_mels).state_dict(), "settings": {}}, listener)
    with pytest.raises(SystemExit, match=r"was begun with another listener of the name drums_listener.pt \(its SHA-256 "):
        reencode.main(common + ["--checkpoint", str(checkpoint), "--hear-blends", "0.5"])
    for wrong, message in ((["--hear-blends", "1", "--decoder-rate", "0"], "--hear-blends trains the decoder: give it --listener"),
                           (["--hear-blends", "-1"], "--hear-blends finite numbers 0 or more"),
                           (["--hear-blends", "1", "--listener", str(data / "sounds.npz")], "not a listener for this model's 8 classes"),
                           (["--hear-blends", "1", "--blends-around", str(tmp_path)], "--blends-around .*: no decoder.onnx there")):
        with pytest.raises(SystemExit, match=message):
            reencode.main(common + ["--checkpoint", str(tmp_path / "no.pt")] + wrong)
    assert not (tmp_path / "no.pt").exists()
