"""A damaged model file (bytes flipped in its metadata) at start-up: one sentence, no traceback (issue 15)."""

from __future__ import annotations

import pytest

from tests.cli.test_cli_errors import REPO, liveengine, one_error_line


def flipped_model(folder, key: bytes, in_value: bool) -> None:
    """A copy of the shipped drum decoder with one byte of metadata `key` (or of its value) inverted."""
    data = bytearray((REPO / "models_onnx" / "drums" / "decoder.onnx").read_bytes())
    at = data.index(key) + 3
    if in_value:
        at = data.index(b"44100", at)  # liveengine.sample_rate's value
    data[at] ^= 0xFF
    folder.mkdir()
    (folder / "decoder.onnx").write_bytes(data)


@pytest.mark.parametrize("command", [("check",), ("play", "--seconds", "1", "--no-osc", "--no-midi")])
@pytest.mark.parametrize("key, in_value", [(b"liveengine.kind", False), (b"liveengine.sample_rate", True)])
def test_a_bit_flipped_model_is_refused_in_one_sentence(tmp_path, command, key, in_value):
    flipped_model(tmp_path / "flipped", key, in_value)
    (tmp_path / "flipped.toml").write_text('[model]\ndecoder = "flipped"\n')
    result = liveengine(command[0], "flipped.toml", *command[1:], cwd=tmp_path)
    assert result.returncode == 1
    line = one_error_line(result)
    assert "model flipped: decoder.onnx's metadata is not UTF-8 text" in line, line
    assert not list(tmp_path.glob("*.wav"))  # nothing played
