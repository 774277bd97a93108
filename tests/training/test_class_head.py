"""The class head that listens (liveengine/training/class_head.py): a listener learns classes from log-mel pictures
whatever their loudness, a head on z learns the listener's judgement, the exported head mixes it with the model's own, and the
command replaces a model's classifier.onnx with one that loads under the contract, refusing another decoder.

Needs the `train` extra (PyTorch); the normal suite skips it without."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")

from test_reencode import _trained  # noqa: E402


def _pictures(count: int, seed: int):
    """Log-mel pictures of two kinds: energy in the low 16 bands (class 0) or the high 16 (class 1), at any level."""
    rng = np.random.default_rng(seed)
    labels = np.arange(count) % 2
    x = rng.normal(-12.0, 1.0, (count, 64, 40))
    for i, label in enumerate(labels):
        band = slice(0, 16) if label == 0 else slice(48, 64)
        x[i, band, : rng.integers(5, 40)] += 9.0
    x += rng.uniform(-20, 20, (count, 1, 1))  # a level of its own: the listener must not care
    return torch.from_numpy(x.astype(np.float32)), torch.from_numpy(labels)


def test_the_picture_is_the_same_at_any_level_and_floors_69_db_down():
    from liveengine.training.class_head import listening_picture

    x, _ = _pictures(3, 0)
    picture = listening_picture(x)
    assert picture.shape == (3, 1, 64, 40)
    assert torch.allclose(picture.amax(dim=(1, 2, 3)), torch.ones(3))
    assert float(picture.min()) >= -1.0 and torch.allclose(listening_picture(x + 7.5), picture, atol=1e-6)
    deep = x.clone()
    deep[0, 0, 0] = -1e6  # far under the floor: held there
    assert float(listening_picture(deep)[0, 0, 0, 0]) == pytest.approx(-1.0)


def test_the_listener_learns_classes_from_pictures_and_the_head_learns_the_listener():
    from liveengine.training.class_head import distil, listening_picture, train_listener

    x, y = _pictures(64, 1)
    # two arrays of pictures with the same labels, as the command gives it (recorded and rendered)
    listener = train_listener([x, x + 3.0], y, 2, steps=60, seed=0, batch=16, log=lambda line: None)
    test_x, test_y = _pictures(40, 2)
    with torch.no_grad():
        predicted = listener(listening_picture(test_x)).argmax(1)
    assert float((predicted == test_y).float().mean()) >= 0.9

    # a teacher whose judgement depends on z's first two coordinates; the head must follow it on fresh points
    z = torch.randn(4000, 12, generator=torch.Generator().manual_seed(0))
    teacher = torch.stack([4 * z[:, 0], 4 * z[:, 1], torch.zeros(len(z))], 1)
    head = distil(z, teacher, 12, steps=600, seed=0, hidden=64)
    fresh = torch.randn(500, 12, generator=torch.Generator().manual_seed(1))
    truth = torch.stack([fresh[:, 0], fresh[:, 1], torch.zeros(len(fresh))], 1).argmax(1)
    with torch.no_grad():
        agree = float((head(fresh).argmax(1) == truth).float().mean())
    assert agree >= 0.9, agree


def test_the_mixed_head_gives_the_listeners_deferred_classes_to_the_own_head():
    from liveengine.training.class_head import LatentHead, MixedHead

    torch.manual_seed(0)
    listening, own = LatentHead(4, 3, hidden=8), LatentHead(4, 3, hidden=8)
    z = torch.randn(32, 4)
    with torch.no_grad():
        listening.net[-1].weight.zero_()
        listening.net[-1].bias.copy_(torch.tensor([0.0, 30.0, 0.0]))  # the listener: class 1, whatever z
        heard_alone = MixedHead(listening, own, 1.0, []).eval()(z)
        deferred = MixedHead(listening, own, 1.0, [1]).eval()(z)
        mixed = MixedHead(listening, own, 0.7, [1]).eval()(z)
        own_p = torch.softmax(own(z), 1)
    assert float(heard_alone[:, 1].min()) > 0.99
    assert torch.allclose(deferred, own_p, atol=1e-6)  # its class-1 vote now follows the own head: the own head's answer
    assert torch.allclose(mixed, own_p, atol=1e-6)
    undeferred = MixedHead(listening, own, 0.7, []).eval()
    with torch.no_grad():
        assert torch.allclose(undeferred(z), 0.7 * heard_alone + 0.3 * own_p, atol=1e-6)
        assert torch.allclose(undeferred(z).sum(1), torch.ones(32), atol=1e-6)


def test_the_command_varies_claps_and_open_hats_for_the_listener_and_refuses_a_chance_outside_0_to_1(tmp_path, capsys, monkeypatch):
    from liveengine.training import augment, class_head
    from liveengine.training.data import CLASSES

    from test_train_smoke import _sounds, write_data_set

    data, source = _trained(tmp_path)
    sounds, classes = _sounds(6, 0)
    classes[:] = [CLASSES.index(name) for name in ("kick", "clap", "hat_closed", "clap", "hat_open", "hat_closed")]
    write_data_set(data, sounds, classes, *_sounds(4, 1))
    folder = tmp_path / "drums"
    seen = []
    real = augment.varied
    monkeypatch.setattr(augment, "varied", lambda x, rng, semitones, damping: seen.append((semitones, damping, len(x))) or real(x, rng, semitones, damping))
    common = ["--checkpoint", str(source), "--model", str(folder), "--data", str(data), "--variants", "1",
              "--listener-steps", "3", "--head-steps", "5", "--cover", "20", "--defer"]
    assert class_head.main(common + ["--vary", "1"]) == 0
    kept = torch.load(tmp_path / "drums_listener.pt", weights_only=True)["settings"]
    assert kept["vary"] == 1.0
    assert sorted(count for _, _, count in seen) == [1, 2]  # the two claps and the open hat, once each (one variant), no other
    assert {(semitones, damping) for semitones, damping, _ in seen} <= {(augment.CLAP_SEMITONES, augment.CLAP_DAMPING),
                                                                         (augment.OPEN_SEMITONES, augment.OPEN_DAMPING)}
    studied = []  # --studio: every batch of re-recordings through the studio effects, and a listener trained for it
    monkeypatch.setattr(class_head, "studio", lambda x, rng: studied.append(len(x)) or augment.studio(x, rng))
    assert class_head.main(common + ["--vary", "1", "--studio", "--vary-cymbals", "1"]) == 0
    assert studied == [6] and "trained with" in capsys.readouterr().out
    kept = torch.load(tmp_path / "drums_listener.pt", weights_only=True)["settings"]
    assert kept["studio"] is True and kept["vary_cymbals"] == 1.0
    head = (folder / "classifier.onnx").read_bytes()
    for wrong, message in ((["--vary", "1.5"], "--vary 1.5: give a chance from 0"), (["--defer", "gong"], "--defer gong: not a class"),
                           (["--vary-cymbals", "-1"], "--vary-cymbals -1.0: give a chance from 0")):
        with pytest.raises(SystemExit, match=message):
            class_head.main(common + wrong)
    assert (folder / "classifier.onnx").read_bytes() == head


def test_the_command_replaces_the_classifier_keeps_the_listener_and_refuses_another_decoder(tmp_path, capsys):
    from liveengine.decoders.onnx_decoder import OnnxDecoder
    from liveengine.training import class_head, train
    from liveengine.training.model import DrumVAE
    from liveengine.training.train import config_from, load

    data, source = _trained(tmp_path)
    folder = tmp_path / "drums"
    before = (folder / "classifier.onnx").read_bytes()
    first = OnnxDecoder(folder).info
    common = ["--checkpoint", str(source), "--model", str(folder), "--data", str(data), "--variants", "1",
              "--listener-steps", "3", "--head-steps", "5", "--cover", "20"]
    assert class_head.main(common) == 0
    out = capsys.readouterr().out
    assert "held-out kits (4 labelled sounds)" in out and (tmp_path / "drums_listener.pt").is_file()
    after = (folder / "classifier.onnx").read_bytes()
    assert after != before
    decoder = OnnxDecoder(folder)
    # a new head, a new hash: the old one is named as earlier, so state files saved with it load; the gradient file still loads
    assert decoder.identity != first.identity and decoder.info.earlier_identities == (first.identity, *first.earlier_identities)
    assert decoder.decoder_grad is not None
    probabilities = decoder.classify(np.zeros((3, decoder.latent_dim), np.float32))
    assert probabilities.shape == (3, len(decoder.classes)) and np.allclose(probabilities.sum(1), 1.0, atol=1e-5)
    # 0.3 of it is the checkpoint's own head: what is left, over 0.7, is the listening head's distribution
    model = DrumVAE(config_from(source))
    load(source, model, None)
    z = np.random.default_rng(0).standard_normal((64, decoder.latent_dim)).astype(np.float32)
    with torch.no_grad():
        own = torch.softmax(model.eval().classifier(torch.from_numpy(z)), 1).numpy()
    rest = (decoder.classify(z) - 0.3 * own) / 0.7
    assert rest.min() > -1e-5 and np.allclose(rest.sum(1), 1.0, atol=1e-5)
    assert np.abs(rest - own).max() > 1e-3  # and it is not the own head again

    broken = tmp_path / "broken"  # a folder whose decoder is this one but whose model does not load: refused before training
    broken.mkdir()
    for name in ("decoder.onnx", "encoder.onnx", "decoder_grad.onnx"):
        (broken / name).write_bytes((folder / name).read_bytes())
    (broken / "classifier.onnx").write_bytes(b"not onnx")
    with pytest.raises(SystemExit, match=r"--model .*broken: it does not load \(.*classifier"):
        class_head.main(common[:2] + ["--model", str(broken)] + common[4:])
    assert (broken / "classifier.onnx").read_bytes() == b"not onnx" and capsys.readouterr().out == ""

    assert class_head.main(common) == 0  # the kept listener: straight to the head
    assert "listener from" in capsys.readouterr().out
    assert class_head.main(common + ["--class-power", "0.5"]) == 0  # other settings: a listener of its own
    assert "training one for" in capsys.readouterr().out
    assert class_head.main(common) == 0  # back to the first settings: a listener for them again
    plain = (folder / "classifier.onnx").read_bytes()
    assert class_head.main(common + ["--descent", "2"]) == 0  # the same listener; the head learns where that encoder goes
    after = (folder / "classifier.onnx").read_bytes()
    assert "listener from" in capsys.readouterr().out and after != plain
    with pytest.raises(SystemExit, match="--descent must be 0 to 16 steps and --descent-rate above 0; got 17 and 0.5"):
        class_head.main(common + ["--descent", "17"])
    with pytest.raises(SystemExit, match=r"--layer-claps 1.5: give a chance from 0 \(never\) to 1"):
        class_head.main(common + ["--layer-claps", "1.5"])
    with pytest.raises(SystemExit, match=r"--open-hats -0.5: give a chance from 0 \(never\) to 1"):
        class_head.main(common + ["--open-hats", "-0.5"])
    with pytest.raises(SystemExit, match="--class-power 2.0: give a number from 0"):
        class_head.main(common + ["--class-power", "2"])
    with pytest.raises(SystemExit, match="--listener-share 0.0: give a share above 0 and at most 1"):
        class_head.main(common + ["--listener-share", "0"])
    with pytest.raises(SystemExit, match="--defer cowbell: not a class of this model; its classes are kick, snare, clap"):
        class_head.main(common + ["--defer", "cowbell"])

    other = tmp_path / "other.pt"
    train.main(["--data", str(data), "--checkpoint", str(other), "--batch", "4", "--max-steps", "1", "--save-every", "0", "--seed", "7"])
    with pytest.raises(SystemExit, match="does not render as the checkpoint's does"):
        class_head.main(["--checkpoint", str(other), "--model", str(folder), "--data", str(data)])
    assert (folder / "classifier.onnx").read_bytes() == after
    with pytest.raises(SystemExit, match="--cover 0: give a whole number"):
        class_head.main(common[:-1] + ["0"])
    with pytest.raises(SystemExit, match="no decoder.onnx there"):
        class_head.main(["--checkpoint", str(source), "--model", str(tmp_path), "--data", str(data)])
    with pytest.raises(SystemExit, match="no such checkpoint"):
        class_head.main(["--checkpoint", str(tmp_path / "none.pt"), "--model", str(folder), "--data", str(data)])
    with pytest.raises(SystemExit, match="no sounds.npz"):
        class_head.main(["--checkpoint", str(source), "--model", str(folder), "--data", str(tmp_path)])
    short = tmp_path / "short"
    short.mkdir()
    np.savez(short / "sounds.npz", audio=np.zeros((2, 1000), np.int16), classes=np.zeros(2, np.int16), split=np.array(["train"] * 2))
    with pytest.raises(SystemExit, match="its sounds are 1000 samples; the checkpoint's window is 44100"):
        class_head.main(["--checkpoint", str(source), "--model", str(folder), "--data", str(short)])
    assert (folder / "classifier.onnx").read_bytes() == after
    assert class_head.main(common + ["--layer-claps", "1"]) == 0  # layered claps: a listener of its own again
    assert "training one for" in capsys.readouterr().out
    (tmp_path / "drums_listener.pt").write_bytes(b"cut short")  # a kept listener that is not one: said, not a traceback
    with pytest.raises(SystemExit, match=r"drums_listener.pt: not a listener for this model's 8 classes .*, or remove it to train one again"):
        class_head.main(common)
    assert (folder / "classifier.onnx").read_bytes() != b"" and (tmp_path / "drums_listener.pt").read_bytes() == b"cut short"


def test_a_head_that_does_not_load_leaves_the_old_one(tmp_path, monkeypatch, capsys):
    from liveengine.decoders.onnx_decoder import OnnxDecoder
    from liveengine.training import class_head

    data, source = _trained(tmp_path)
    folder = tmp_path / "drums"
    before = (folder / "classifier.onnx").read_bytes()
    wrong = class_head.MixedHead(class_head.LatentHead(12, 3), class_head.LatentHead(12, 3), 1.0, [])  # 3 classes, the metadata 8

    monkeypatch.setattr(class_head, "MixedHead", lambda *args, **kwargs: wrong.eval())
    assert class_head.main(["--checkpoint", str(source), "--model", str(folder), "--data", str(data), "--variants", "1",
                            "--listener-steps", "2", "--head-steps", "2", "--cover", "4"]) == 1
    assert "the old one is kept" in capsys.readouterr().err
    assert (folder / "classifier.onnx").read_bytes() == before
    assert OnnxDecoder(folder).can_classify


def test_the_pool_layers_claps_only_and_only_when_asked(monkeypatch):
    """augmented_pool(layer=1): every clap's recording is layered before it is re-recorded, no other class's. The
    re-recording (kit_like) is replaced by the identity here, so that the two pools differ only by the layering."""
    from liveengine.training import class_head
    from liveengine.training.model import Config, DrumVAE

    monkeypatch.setattr(class_head, "kit_like", lambda x, rng: x)
    model = DrumVAE(Config()).eval()
    t = np.arange(44100) / 44100
    audio = np.stack([np.sin(2 * np.pi * f * t) * np.exp(-t / 0.05) for f in (900, 60, 1200)]).astype(np.float32)
    classes = np.array([model.cfg.classes.index(c) for c in ("clap", "kick", "clap")])
    kept = audio.copy()
    plain = class_head.augmented_pool(model, audio, classes, 1, np.random.default_rng(0))[0]
    layered = class_head.augmented_pool(model, audio, classes, 1, np.random.default_rng(0), layer=1.0)[0]
    assert torch.allclose(plain[1], layered[1], atol=1e-5)  # the kick as it was
    assert not torch.allclose(plain[0], layered[0], atol=1e-3) and not torch.allclose(plain[2], layered[2], atol=1e-3)
    assert torch.equal(plain, class_head.augmented_pool(model, audio, classes, 1, np.random.default_rng(0), layer=0.0)[0])
    assert np.array_equal(audio, kept)  # the sounds given are not layered in place


def test_the_pool_opens_closed_hats_in_place_of_open_hats_only_when_asked(monkeypatch):
    """augmented_pool(open_hats=1): every open hat's recording is a closed hat of the pool, opened (augment.opened),
    still labelled open hat; no other class changes. The re-recording is the identity here, as above."""
    from liveengine.training import class_head
    from liveengine.training.model import Config, DrumVAE

    monkeypatch.setattr(class_head, "kit_like", lambda x, rng: x)
    got = []
    from liveengine.training import augment

    monkeypatch.setattr(augment, "opened", lambda x, rng, **kw: got.append(x.clone()) or x * 0.5)  # augment.class_variants calls it
    model = DrumVAE(Config()).eval()
    t = np.arange(44100) / 44100
    audio = np.stack([np.sin(2 * np.pi * f * t) * np.exp(-t / 0.05) for f in (7000, 60, 9000)]).astype(np.float32)
    classes = np.array([model.cfg.classes.index(c) for c in ("hat_open", "kick", "hat_closed")])
    plain = class_head.augmented_pool(model, audio, classes, 1, np.random.default_rng(0))
    assert not got
    pool = class_head.augmented_pool(model, audio, classes, 1, np.random.default_rng(0), open_hats=1.0)
    assert len(got) == 1 and torch.equal(got[0], torch.from_numpy(audio[2:3]))  # the closed hat, given to `opened`
    assert torch.equal(pool[3], plain[3])  # labels as they were: the open hat's row is still an open hat
    assert torch.allclose(pool[0][1], plain[0][1], atol=1e-5) and torch.allclose(pool[0][2], plain[0][2], atol=1e-5)
    assert not torch.allclose(pool[0][0], plain[0][0], atol=1e-3)  # the open hat's row is the opened closed hat
