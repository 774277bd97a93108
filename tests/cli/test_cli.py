"""`liveengine play` argument checks that need no audio device."""


def test_play_resume_names_a_missing_state_before_anything_else(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LIVEENGINE_STATE", str(tmp_path / "state"))
    from liveengine.cli import main

    assert main(["play", "--resume", "gig"]) == 1
    err = capsys.readouterr().err
    assert "no saved state named 'gig'" in err and "--resume" in err


def test_ctrl_c_in_a_command_that_says_nothing_itself_is_said_once(monkeypatch, capsys):
    """`check` stood in for by a function raising KeyboardInterrupt (a real Ctrl-C cannot be timed into a command this
    short): main says it stopped, and exits 130; a command that said what it kept (marked told) is not said twice."""
    import liveengine.cli as cli

    def stopped(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "cmd_check", stopped)
    assert cli.main(["check", "default"]) == 130
    assert capsys.readouterr().err == "liveengine: stopped by Ctrl-C.\n"

    def told(args):
        stop = KeyboardInterrupt()
        stop.told = True
        raise stop

    monkeypatch.setattr(cli, "cmd_check", told)
    assert cli.main(["check", "default"]) == 130
    assert capsys.readouterr().err == ""
