"""bench/decode_speed.py on two real (generated) ONNX STFT decoders: it times both in turn and writes each one's
figures and its ratio to the first; a round count under 1 is refused. No time is asserted, only what is written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("onnx")

BENCH = Path(__file__).resolve().parents[2] / "bench"


def test_two_models_in_turn_with_ratios_to_the_first(tmp_path, monkeypatch):
    from liveengine.testing.models import build_stft_decoder

    monkeypatch.syspath_prepend(str(BENCH))
    import decode_speed

    short = build_stft_decoder(tmp_path / "short", output_length=4096)
    long = build_stft_decoder(tmp_path / "long", output_length=8192)
    out = tmp_path / "speed.json"
    assert decode_speed.main([str(short), str(long), "--rounds", "1", "--out", str(out)]) == 0
    models = json.loads(out.read_text())["models"]
    assert [m["model"] for m in models] == [str(short), str(long)]
    assert [round(m["window_s"], 4) for m in models] == [round(4096 / 44100, 4), round(8192 / 44100, 4)]
    first, second = (m["speed"] for m in models)
    assert first["batch_1_over_first"] == first["batch_64_over_first"] == 1.0
    assert second["batch_1_over_first"] == pytest.approx(second["batch_1_ms"] / first["batch_1_ms"], rel=1e-2)
    assert all(s["batch_1_ms"] > 0 and s["batch_64_ms"] > 0 and "1 rounds" in s["timing"] for s in (first, second))


def test_no_rounds_is_refused(tmp_path, monkeypatch, capsys):
    monkeypatch.syspath_prepend(str(BENCH))
    import decode_speed

    with pytest.raises(SystemExit) as refused:
        decode_speed.main([str(tmp_path), "--rounds", "0"])
    assert refused.value.code == 2 and "--rounds 0: allowed: 1 or more" in capsys.readouterr().err


def test_a_folder_that_is_no_model_is_refused_in_one_sentence(tmp_path, monkeypatch, capsys):
    monkeypatch.syspath_prepend(str(BENCH))
    import decode_speed

    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit) as refused:
        decode_speed.main([str(tmp_path / "empty"), "--out", str(tmp_path / "r.json")])
    assert refused.value.code == 2 and "decoder.onnx is missing" in capsys.readouterr().err
    assert not (tmp_path / "r.json").exists()
