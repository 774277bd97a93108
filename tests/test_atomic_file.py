"""write_atomic: the target is always a complete file, and a failed write or check changes nothing."""

from __future__ import annotations

import pytest

from liveengine.atomic_file import write_atomic


def test_replaces_and_keeps_the_previous_copy(tmp_path):
    target = tmp_path / "sub" / "state.json"
    write_atomic(target, b"one")
    write_atomic(target, b"two", keep_previous=tmp_path / "sub" / "state.prev.json")
    assert target.read_bytes() == b"two" and (tmp_path / "sub" / "state.prev.json").read_bytes() == b"one"
    assert [p.name for p in target.parent.iterdir() if p.suffix == ".tmp"] == []


def test_a_failing_check_leaves_the_file_and_no_temporary(tmp_path):
    target = tmp_path / "patch.toml"
    target.write_bytes(b"good")

    def refuse(path):
        assert path.read_bytes() == b"bad"
        raise ValueError("does not load")

    with pytest.raises(ValueError, match="does not load"):
        write_atomic(target, b"bad", keep_previous=tmp_path / "patch.toml.bak", check=refuse)
    assert target.read_bytes() == b"good" and not (tmp_path / "patch.toml.bak").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["patch.toml"]


def test_an_unwritable_place_is_an_oserror_and_nothing_changes(tmp_path):
    (tmp_path / "file").write_bytes(b"x")
    with pytest.raises(OSError):
        write_atomic(tmp_path / "file" / "state.json", b"data")
    assert (tmp_path / "file").read_bytes() == b"x"


def test_a_new_file_gets_the_usual_permissions_and_a_rewritten_one_keeps_its_own(tmp_path):
    """mkstemp makes owner-only files; a patch written atomically must stay as readable as one written plainly."""
    plain = tmp_path / "plain.toml"
    plain.write_text("x")
    written = write_atomic(tmp_path / "new.toml", b"x")
    assert written.stat().st_mode & 0o777 == plain.stat().st_mode & 0o777
    written.chmod(0o640)
    write_atomic(written, b"y")
    assert written.stat().st_mode & 0o777 == 0o640 and written.read_bytes() == b"y"
