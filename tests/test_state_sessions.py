"""Nothing a performer found is lost to a new session or a damaged file (liveengine/state.py): a fresh `play` keeps
the last session's autosave before saving over it, a damaged state file never replaces the last good one kept beside
it, and the state kept before a save can be resumed by name. Real files, and `play` itself in a subprocess."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import pytest

from liveengine.cli_support import state_name_type
from liveengine.errors import LiveEngineError
from liveengine.state import SESSIONS_KEPT, keep_last_session, load_state, save_state


def state(zoom: float) -> dict:
    return {"model_hash": "m", "setting": {"zoom": zoom}}


def test_a_damaged_state_file_is_set_apart_and_never_replaces_the_last_good_one(tmp_path):
    path = tmp_path / "autosave.json"
    save_state(path, state(2.5))
    save_state(path, state(3.0))
    assert json.loads((tmp_path / "autosave.prev.json").read_text())["setting"]["zoom"] == 2.5
    path.write_text('{"version": 1, "setting": {"zo')  # cut short, as a full disk or a crash of another writer leaves it
    save_state(path, state(1.0))
    assert json.loads(path.read_text())["setting"]["zoom"] == 1.0
    assert json.loads((tmp_path / "autosave.prev.json").read_text())["setting"]["zoom"] == 2.5  # the last good one
    assert (tmp_path / "autosave.unreadable.json").read_text() == '{"version": 1, "setting": {"zo'


def test_an_unreadable_state_names_the_kept_previous_one_only_when_that_one_reads(tmp_path):
    path = tmp_path / "autosave.json"
    save_state(path, state(2.5))
    save_state(path, state(3.0))
    path.write_text("{")
    with pytest.raises(LiveEngineError) as told:
        load_state(path, "m")
    assert "resume it with --resume autosave.prev" in str(told.value)
    assert load_state(tmp_path / "autosave.prev.json", "m")["setting"]["zoom"] == 2.5
    (tmp_path / "autosave.prev.json").write_text("")
    with pytest.raises(LiveEngineError) as told:
        load_state(path, "m")
    assert "--resume" not in str(told.value) and "unreadable" in str(told.value)


def test_state_names_for_resume_take_a_prev_ending_and_never_a_path():
    assert state_name_type("autosave.prev") == "autosave.prev" and state_name_type("gig-2") == "gig-2"
    for wrong in ("a.b", "../x", "autosave.prev.prev", ".prev", "x/y.prev"):
        with pytest.raises(argparse.ArgumentTypeError, match="is not a state name; use letters, digits, - and _, and .prev"):
            state_name_type(wrong)


def test_the_last_sessions_are_kept_once_each_and_only_the_newest(tmp_path):
    path = tmp_path / "autosave.json"
    assert keep_last_session(tmp_path) is None  # nothing saved yet
    path.write_text("{")
    assert keep_last_session(tmp_path) is None and list(tmp_path.glob("autosave-*")) == []  # damaged: nothing to keep
    (tmp_path / "gig.json").write_text(json.dumps({"version": 1, "saved_at": 0}))  # a named save: never removed
    names = []
    for day in range(SESSIONS_KEPT + 3):
        path.write_text(json.dumps({"version": 1, "saved_at": time.mktime((2026, 11, 1 + day, 20, 0, 0, 0, 0, -1)), "day": day}))
        names.append(keep_last_session(tmp_path, new={"version": 1, "saved_at": 0, "day": -1}))
        assert keep_last_session(tmp_path) is None  # kept already: not twice
    kept = sorted(p.stem for p in tmp_path.glob("autosave-*.json"))
    assert kept == sorted(names[-SESSIONS_KEPT:]) and names[-1] == "autosave-20261113-200000-000"
    assert json.loads((tmp_path / f"{names[-1]}.json").read_text())["day"] == SESSIONS_KEPT + 2
    assert (tmp_path / "gig.json").exists()


def test_a_session_that_found_nothing_new_keeps_nothing(tmp_path):
    """Ten quick starts that change nothing once pushed a real session out of the kept ones."""
    path = tmp_path / "autosave.json"
    path.write_text(json.dumps({"version": 1, "saved_at": 1.0, "setting": {"zoom": 1.0}}))
    assert keep_last_session(tmp_path, new={"version": 1, "saved_at": 2.0, "setting": {"zoom": 1.0}}) is None  # the same found
    assert list(tmp_path.glob("autosave-*")) == []
    assert keep_last_session(tmp_path, new={"version": 1, "saved_at": 2.0, "setting": {"zoom": 2.0}}) is not None


def play(cwd, state_folder, *args: str) -> subprocess.CompletedProcess:
    """`play` with no audio device: it renders its score to a file and saves the state at exit."""
    env = {**os.environ, "LIVEENGINE_STATE": str(state_folder), "JACK_DEFAULT_SERVER": "liveengine-no-such-server",
           "JACK_NO_START_SERVER": "1"}
    return subprocess.run([sys.executable, "-m", "liveengine", "play", "short.toml", "--no-osc", "--no-midi", "--score", "one.score",
                           "--force", "--record", "out.wav", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=180)


def test_a_fresh_play_keeps_the_last_sessions_state_and_it_resumes(tmp_path, short_patch):
    """What a newcomer lost: a zoom found in one session, then two plain `play`s; each saved over the last."""
    short_patch()
    (tmp_path / "one.score").write_text("0.0 /pad 0 0 0.9\n")
    folder = tmp_path / "state"
    first = play(tmp_path, folder)
    assert first.returncode == 0, first.stderr
    assert "the last session's state is kept" not in first.stdout  # nothing to keep yet
    autosave = json.loads((folder / "autosave.json").read_text())
    autosave["setting"]["zoom"] = 2.5  # what the performer found
    (folder / "autosave.json").write_text(json.dumps(autosave))
    second, third = play(tmp_path, folder), play(tmp_path, folder)
    assert second.returncode == 0 and third.returncode == 0, (second.stderr, third.stderr)
    zooms = {p.stem: json.loads(p.read_text())["setting"]["zoom"] for p in folder.glob("autosave-*.json")}
    (found,) = [name for name, zoom in zooms.items() if zoom == 2.5]
    assert f"the last session's state is kept as '{found}' (play --resume {found} goes on from it)" in second.stdout
    # The third found what the second did (nothing new): nothing more is kept, nor said.
    assert len(zooms) == 1 and "is kept as" not in third.stdout
    assert json.loads((folder / "autosave.json").read_text())["setting"]["zoom"] == 1.0
    resumed = play(tmp_path, folder, "--resume", found)
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads((folder / "autosave.json").read_text())["setting"]["zoom"] == 2.5  # went on from it, saved at exit
