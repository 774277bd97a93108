"""Messages that name what was meant: a mistyped patch, model or command gets `Did you mean ...?`."""

from __future__ import annotations

from tests.cli.test_cli_errors import liveengine, one_error_line


def test_a_mistyped_patch_name(tmp_path):
    result = liveengine("check", "defualt", cwd=tmp_path)
    assert result.returncode == 1
    assert one_error_line(result).endswith("patch name (default, grooves, voice). Did you mean 'default'?")


def test_a_mistyped_model_name(tmp_path):
    (tmp_path / "mine.toml").write_text('[model]\ndecoder = "drum"\n')
    result = liveengine("check", "mine.toml", cwd=tmp_path)
    assert result.returncode == 1
    assert one_error_line(result).endswith("allowed: builtin:testsynth, drums, drums2, drums3, drums4, drums5, drums6, drums7, drums8, drums9, drums10, drums11, drums12, drums13, drums14, drums15, drums16, drums19, or a model folder's path. Did you mean 'drums'?")


def test_a_mistyped_command(tmp_path):
    result = liveengine("rendr", "default", cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "invalid choice: 'rendr' (choose from 'play', 'midi', 'learn', 'devices', 'render', 'check'" in result.stderr
    assert result.stderr.rstrip().endswith("). Did you mean 'render'?")


def test_a_name_near_nothing_gets_no_guess(tmp_path):
    result = liveengine("check", "zzzz", cwd=tmp_path)
    assert result.returncode == 1
    assert "Did you mean" not in one_error_line(result)
