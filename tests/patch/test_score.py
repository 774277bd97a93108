"""Score files: `SECONDS ADDRESS ARGS` lines, played by time; every error names file:line."""

from __future__ import annotations

import pytest

from liveengine.commands import Command
from liveengine.control.score import load_score, parse_score
from liveengine.errors import LiveEngineError


def score_error(text: str, source: str = "song.score") -> str:
    with pytest.raises(LiveEngineError) as info:
        parse_score(text, source)
    return str(info.value)


def test_unsorted_lines_are_played_by_time():
    events = parse_score("1.0 /pad 2 2\n0.0 /pad 0 0 0.5\n0.5 /param gain 1.5\n0.25 /panic\n")
    assert [t for t, _ in events] == [0.0, 0.25, 0.5, 1.0]
    assert [c for _, c in events] == [
        Command("/pad", (0, 0, 0.5)),
        Command("/panic", ()),
        Command("/param", ("gain", 1.5)),
        Command("/pad", (2, 2, 1.0)),
    ]
    assert all(c.at is None for _, c in events)


def test_equal_times_keep_file_order():
    events = parse_score("0.5 /pad 7 6\n0.0 /pad 0 0\n0.5 /pad 7 7\n0.5 /choke hats\n")
    assert [c.args for _, c in events] == [(0, 0, 1.0), (7, 6, 1.0), (7, 7, 1.0), ("hats",)]


def test_comments_and_blank_lines_are_ignored():
    text = "# header\n\n   \n0.25 /pad 1 2 0.5  # trailing comment\n\t\n# 0.5 /pad 3 3\n0.75 /pad 3 4#tight\n"
    events = parse_score(text)
    assert events == [(0.25, Command("/pad", (1, 2, 0.5))), (0.75, Command("/pad", (3, 4, 1.0)))]


def test_only_comments_is_an_empty_score():
    assert parse_score("# nothing yet\n\n") == []


def test_tab_separated_columns():
    # Columns aligned with tabs (or pasted from a spreadsheet) are whitespace like any other.
    events = parse_score("0.5\t/pad\t3\t4\t0.8\n0.25  \t/pad 1 1\n")
    assert events == [(0.25, Command("/pad", (1, 1, 1.0))), (0.5, Command("/pad", (3, 4, 0.8)))]


def test_time_formats():
    events = parse_score("1e-1 /pad 0 0\n2 /pad 0 1\n.5 /pad 0 2\n")
    assert [t for t, _ in events] == [0.1, 0.5, 2.0]


@pytest.mark.parametrize("when", ["abc", "0,5", "1s", "/pad"])
def test_bad_time_names_file_and_line(when):
    message = score_error(f"# groove\n0.0 /pad 0 0\n{when} /pad 1 1\n")
    assert message.startswith("song.score:3:")
    assert repr(when) in message
    assert "SECONDS ADDRESS ARGS" in message


@pytest.mark.parametrize("when", ["-0.5", "-1e-9", "nan", "inf", "-inf"])
def test_negative_or_non_finite_time(when):
    message = score_error(f"0.0 /pad 0 0\n{when} /pad 1 1\n")
    assert message.startswith("song.score:2:")
    assert when in message
    assert ">= 0" in message


def test_unknown_address_names_file_and_line():
    message = score_error("0.0 /pad 0 0\n\n# comment\n0.5 /pda 0 0\n")
    assert message.startswith("song.score:4:")
    assert "'/pda'" in message
    assert "/pad" in message and "/panic" in message


@pytest.mark.parametrize(
    "line, expected",
    [
        ("0.5 /pad 0 99", ["'col'", "99", "an integer from 0 to 15"]),
        ("0.5 /pad 0 0 2", ["'velocity'", "2", "a number from 0 to 1"]),
        ("0.5 /pad 3", ["got 1 argument(s)", "/pad row col [velocity]"]),
        ("0.5 /pad 3.5 0", ["'row'", "3.5"]),
        ("0.5 /param gain 9", ["gain", "0 to 2"]),
        ("0.5", ["empty command"]),
    ],
)
def test_bad_args_name_file_and_line(line, expected):
    message = score_error(f"0.0 /pad 0 0\n{line}\n")
    assert message.startswith("song.score:2:")
    for text in expected:
        assert text in message


def test_load_score_names_the_file_in_errors(tmp_path):
    path = tmp_path / "groove.score"
    path.write_text("0.0 /pad 0 0\n0.5 /pad 0 0 loud\n")
    with pytest.raises(LiveEngineError) as info:
        load_score(path)
    assert str(info.value).startswith(f"{path}:2:")
    assert "'loud'" in str(info.value)


def test_load_score_reads_a_file(tmp_path):
    path = tmp_path / "groove.score"
    path.write_text("0.5 /pad 1 1\n0.0 /pad 0 0 0.25\n")
    assert load_score(path) == [(0.0, Command("/pad", (0, 0, 0.25))), (0.5, Command("/pad", (1, 1, 1.0)))]


def test_load_score_missing_file(tmp_path):
    path = tmp_path / "missing.score"
    with pytest.raises(LiveEngineError) as info:
        load_score(path)
    assert str(path) in str(info.value)
    assert "does not exist" in str(info.value)


def test_load_score_binary_file(tmp_path):
    path = tmp_path / "noise.score"
    path.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(LiveEngineError) as info:
        load_score(path)
    assert str(path) in str(info.value)
    assert "UTF-8" in str(info.value)


def test_server_requests_are_not_score_commands():
    from liveengine.control.score import parse_score
    from liveengine.errors import LiveEngineError

    with pytest.raises(LiveEngineError) as caught:
        parse_score("0.0 /pad 1 1\n0.5 /ping\n", "live.score")
    assert "live.score:2" in caught.value.message and "/ping" in caught.value.message and "/pad" in caught.value.message


def test_every_bad_line_is_reported_at_once():
    message = score_error("0.0 /pad 0 99\n0.5 /pad 0 0\nlater /pad 1 1\n1.0 /ping\n")
    assert message.splitlines()[0].startswith("song.score:1: /pad argument 'col'")
    assert message.splitlines()[1].startswith("song.score:3: 'later' is not a time")
    assert message.splitlines()[2].startswith("song.score:4: /ping is an OSC server request")
    assert message.endswith("(3 bad lines in song.score: fix them all, then run again.)")
