"""The command table: every control input (score line, OSC, MIDI) is checked by make_command.

Each error must name the address, the argument, the bad value and what is allowed.
"""

from __future__ import annotations

import math

import pytest

from liveengine.commands import COMMANDS, PARAMS, Command, make_command, parse_command_text
from liveengine.engine import Engine
from liveengine.errors import LiveEngineError


def error_of(text_or_address, args=None) -> str:
    with pytest.raises(LiveEngineError) as info:
        if args is None:
            parse_command_text(text_or_address)
        else:
            make_command(text_or_address, args)
    return str(info.value)


# ---- valid commands ----

def test_pad_with_velocity():
    command = parse_command_text("/pad 3 4 0.8")
    assert command == Command("/pad", (3, 4, 0.8), None)
    assert type(command.args[0]) is int and type(command.args[1]) is int and type(command.args[2]) is float


def test_pad_without_velocity_defaults_to_full():
    command = parse_command_text("/pad 3 4")
    assert command.args == (3, 4, 1.0)
    assert make_command("/pad", (3, 4)).args == (3, 4, 1.0)


def test_pad_accepts_numbers_and_keeps_the_frame():
    command = make_command("/pad", [0, 15, 0], at=4800)
    assert command == Command("/pad", (0, 15, 0.0), 4800)
    assert type(command.args[2]) is float
    # An integral float is a valid row (OSC senders often send floats).
    assert make_command("/pad", (2.0, 5.0, 1)).args == (2, 5, 1.0)
    assert parse_command_text("/pad 2.0 1e1").args == (2, 10, 1.0)


def test_pad_text_with_extra_whitespace():
    assert parse_command_text("  /pad\t7  7   0.25 ").args == (7, 7, 0.25)


@pytest.mark.parametrize("name", sorted(PARAMS))
def test_param_every_name_in_range(name):
    low, high, _ = PARAMS[name]
    for value in (low, (low + high) / 2, high):
        command = parse_command_text(f"/param {name} {value!r}")
        assert command.address == "/param"
        assert command.args == (name, pytest.approx(value))
        assert type(command.args[1]) is float
    assert make_command("/param", (name, (low + high) / 2)).args == (name, (low + high) / 2)


@pytest.mark.parametrize("name", sorted(PARAMS))
def test_param_every_name_out_of_range(name):
    low, high, _ = PARAMS[name]
    span = high - low
    for value in (low - 0.01 * span, high + 0.01 * span):
        message = error_of(f"/param {name} {value!r}")
        assert "/param" in message
        assert name in message
        assert f"{low:g} to {high:g}" in message


def test_panic():
    assert parse_command_text("/panic") == Command("/panic", (), None)
    assert make_command("/panic", (), at=0) == Command("/panic", (), 0)


def test_every_table_address_takes_its_own_shape():
    # Guards the table itself: a typo there would break every adapter at once.
    # Every address names its own handler (one each; a copy-paste slip would make two commands do one thing).
    assert len({spec.handler for spec in COMMANDS.values()}) == len(COMMANDS)
    to_engine = {a: spec.handler.engine_method for a, spec in COMMANDS.items() if spec.timed}
    assert set(to_engine) == {"/pad", "/pad/off", "/xy", "/latent", "/mix", "/param", "/mapping", "/choke", "/panic",
                              "/groove", "/groove/xy", "/groove/kit", "/groove/stop", "/tempo/source", "/transport",
                              "/stream/xy", "/stream/note", "/stream/off", "/stream/instrument", "/stream/mix", "/stream/input"}
    assert all(callable(getattr(Engine, method, None)) for method in to_engine.values())
    assert {a for a, spec in COMMANDS.items() if spec.writes} == {"/patch", "/record/start", "/record/stop", "/capture", "/state/save"}
    assert parse_command_text("/pad/off 1 2").args == (1, 2)
    assert parse_command_text("/choke hats").args == ("hats",)


def test_repeated_groups_and_a_trailing_velocity():
    assert make_command("/mix", [0.5, 1, 2, -0.25, 3, 3]).args == (0.5, 1, 2, -0.25, 3, 3)
    assert make_command("/mix", [1, 0, 0, 0.7]).args == (1.0, 0, 0, 0.7)
    assert make_command("/latent", ["0.5", -1, 2]).args == (0.5, -1.0, 2.0)
    assert "weight row col weight row col ... [velocity]" in error_of("/mix 0.5 1")
    assert "v1 ... vN" in error_of("/latent")
    assert "'row'" in error_of("/mix 0.5 1.5 2")  # a group's kinds are checked like any argument
    assert "from 0 to 1" in error_of("/mix 1 0 0 1.5")  # the velocity after the groups too
    assert "1 to 16 groups" in error_of("/mix " + "1 0 0 " * 17)


# ---- errors ----

def test_empty_text():
    message = error_of("   ")
    assert "empty command" in message and "/pad" in message


@pytest.mark.parametrize("address", ["/pda", "pad", "/PAD", "/pad/on", "/"])
def test_unknown_address_lists_known_ones(address):
    message = error_of(f"{address} 1 2")
    assert repr(address) in message
    for known in COMMANDS:
        assert known in message


@pytest.mark.parametrize(
    "text, count, shape",
    [
        ("/pad", 0, "/pad row col [velocity]"),
        ("/pad 3", 1, "/pad row col [velocity]"),
        ("/pad 1 2 0.5 9", 4, "/pad row col [velocity]"),
        ("/pad/off 1", 1, "/pad/off row col"),
        ("/param gain", 1, "/param name value"),
        ("/choke", 0, "/choke group"),
        ("/panic now", 1, "/panic no arguments"),
    ],
)
def test_wrong_argument_count_shows_the_shape(text, count, shape):
    message = error_of(text)
    assert f"got {count} argument(s)" in message
    assert shape in message


@pytest.mark.parametrize(
    "text, arg, shown, allowed",
    [
        ("/pad x 4", "row", "'x'", "an integer from 0 to 15"),
        ("/pad 3 four", "col", "'four'", "an integer from 0 to 15"),
        ("/pad 3 4 loud", "velocity", "'loud'", "a number from 0 to 1"),
        ("/pad 3 4 0,5", "velocity", "'0,5'", "a number from 0 to 1"),
        ("/param gain up", "value", "'up'", "a number"),
    ],
)
def test_non_numeric(text, arg, shown, allowed):
    message = error_of(text)
    assert text.split()[0] in message
    assert f"'{arg}'" in message
    assert shown in message
    assert allowed in message


@pytest.mark.parametrize("text, arg", [("/pad 3.5 4", "row"), ("/pad 3 0.5", "col"), ("/pad 1e-1 4", "row")])
def test_non_integer_row_or_col(text, arg):
    message = error_of(text)
    assert "/pad" in message and f"'{arg}'" in message
    assert "an integer from 0 to 15" in message


def test_non_integer_float_value_for_row():
    message = error_of("/pad", (3.5, 4))
    assert "/pad" in message and "'row'" in message and "3.5" in message and "an integer from 0 to 15" in message


@pytest.mark.parametrize(
    "text, arg, shown, allowed",
    [
        ("/pad 16 0", "row", "16", "an integer from 0 to 15"),
        ("/pad -1 0", "row", "-1", "an integer from 0 to 15"),
        ("/pad 0 16", "col", "16", "an integer from 0 to 15"),
        ("/pad 0 0 1.5", "velocity", "1.5", "a number from 0 to 1"),
        ("/pad 0 0 -0.1", "velocity", "-0.1", "a number from 0 to 1"),
        ("/pad/off 0 99", "col", "99", "an integer from 0 to 15"),
    ],
)
def test_out_of_range(text, arg, shown, allowed):
    message = error_of(text)
    assert text.split()[0] in message
    assert f"'{arg}'" in message
    assert shown in message
    assert allowed in message


@pytest.mark.parametrize("velocity", ["nan", "NaN", "inf", "-inf", "infinity", "1e400"])
def test_non_finite_velocity_text(velocity):
    message = error_of(f"/pad 0 0 {velocity}")
    assert "/pad" in message and "'velocity'" in message and "a number from 0 to 1" in message


@pytest.mark.parametrize("velocity", [math.nan, math.inf, -math.inf])
def test_non_finite_velocity_value(velocity):
    message = error_of("/pad", (0, 0, velocity))
    assert "/pad" in message and "'velocity'" in message and "a number from 0 to 1" in message


@pytest.mark.parametrize("value", [math.nan, math.inf, "nan", "inf"])
def test_non_finite_param_value(value):
    message = error_of("/param", ("gain", value))
    assert "/param" in message and "'value'" in message


@pytest.mark.parametrize("row", [math.nan, math.inf, "nan", "inf"])
def test_non_finite_row(row):
    message = error_of("/pad", (row, 0))
    assert "/pad" in message and "'row'" in message and "an integer from 0 to 15" in message


@pytest.mark.parametrize(
    "address, args, arg",
    [
        ("/pad", (True, 0), "row"),
        ("/pad", (0, False), "col"),
        ("/pad", (0, 0, True), "velocity"),
        ("/param", ("gain", True), "value"),
        ("/param", (True, 1.0), "name"),
        ("/choke", (False,), "group"),
    ],
)
def test_bool_is_not_a_number_or_name(address, args, arg):
    message = error_of(address, args)
    assert address in message
    assert f"'{arg}'" in message
    assert "True" in message or "False" in message


def test_param_unknown_name_lists_the_names():
    message = error_of("/param volume 1")
    assert "/param" in message and "'name'" in message and "'volume'" in message
    for name in PARAMS:
        assert name in message


def test_param_value_out_of_range_names_param_and_range():
    message = error_of("/param gain 2.5")
    assert "/param" in message and "gain" in message and "2.5" in message
    assert "0 to 2" in message
    message = error_of("/param zoom 0")
    assert "zoom" in message and "0.05 to 8" in message
    message = error_of("/param rotation -361")
    assert "rotation" in message and "-360 to 360" in message
