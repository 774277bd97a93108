"""`liveengine play` argument checks that need no audio device."""


def test_play_resume_names_a_missing_state_before_anything_else(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LIVEENGINE_STATE", str(tmp_path / "state"))
    from liveengine.cli import main

    assert main(["play", "--resume", "gig"]) == 1
    err = capsys.readouterr().err
    assert "no saved state named 'gig'" in err and "--resume" in err
