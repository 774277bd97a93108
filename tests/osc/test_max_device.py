"""The Max for Live device: generated from the address table, wired to existing objects, sending only what the table accepts.

Max and Live cannot run here, so this checks the patcher's structure and follows every message that
can reach `udpsend` back through the cords to its source, to know its address and arguments; the
same OSC messages are tested end to end from Pure Data and liblo's oscsend.
"""

from __future__ import annotations

import importlib.util
import json
import re
import struct
from pathlib import Path

import pytest

from liveengine.commands import COMMANDS, MAPPING_NAMES, PARAMS, TEMPO_SOURCES, make_command
from liveengine.control.osc.server import FEEDBACK
from liveengine.errors import LiveEngineError

ROOT = Path(__file__).resolve().parents[2]
PATCHER = ROOT / "patches" / "max" / "liveengine.maxpat"
DEVICE = ROOT / "patches" / "max" / "liveengine.amxd"


def builder():
    spec = importlib.util.spec_from_file_location("build_max_device", ROOT / "scripts" / "build_max_device.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load() -> dict:
    return json.loads(PATCHER.read_text(encoding="utf-8"))["patcher"]


def words(box: dict) -> list[str]:
    return box.get("text", "").split()


def cls(box: dict) -> str:
    return words(box)[0] if box["maxclass"] == "newobj" else box["maxclass"]


class Graph:
    def __init__(self, patcher: dict):
        self.boxes = {b["box"]["id"]: b["box"] for b in patcher["boxes"]}
        self.lines = [(tuple(l["patchline"]["source"]), tuple(l["patchline"]["destination"])) for l in patcher["lines"]]

    def into(self, box_id: str, inlet: int) -> list[tuple[str, int]]:
        return [source for source, target in self.lines if target == (box_id, inlet)]

    def out_of(self, box_id: str, outlet: int) -> list[tuple[str, int]]:
        return [target for source, target in self.lines if source == (box_id, outlet)]

    def find(self, text: str) -> str:
        (found,) = [i for i, b in self.boxes.items() if b.get("text") == text]
        return found


# Inlets and outlets of every object the device uses, as Max saves them (see the builder's docstring).
FIXED = {"midiin": (1, 1), "midiout": (1, 0), "midiparse": (1, 8), "udpsend": (1, 0), "udpreceive": (1, 1),
         "prepend": (1, 1), "tosymbol": (1, 1), "speedlim": (2, 1), "live.thisdevice": (1, 3), "print": (1, 0),
         "message": (2, 1), "comment": (1, 0), "textbutton": (1, 3), "live.text": (1, 2), "live.dial": (1, 2),
         "live.menu": (1, 3), "pictslider": (2, 2), "textedit": (1, 4), "multislider": (1, 2), "zl": (2, 2),
         "split": (3, 2), "/": (2, 1), "metro": (2, 1), "transport": (2, 9), "append": (2, 1),
         "+": (2, 1)}


def expected_io(box: dict) -> tuple[int, int]:
    name, args = cls(box), words(box)[1:]
    if name in FIXED:
        return FIXED[name]
    if name == "unpack":
        return 1, len(args)
    if name == "gate":
        return 2, int(args[0])
    if name in ("pack", "pak"):
        return len(args), 1
    if name == "route":
        return len(args) + 1, len(args) + 1
    if name == "t":
        return 1, len(args)
    if name == "expr":
        return max(int(n) for n in re.findall(r"\$[if](\d+)", box["text"])), 1
    raise AssertionError(f"the test does not know the object {name!r}: add its inlets and outlets")


def test_the_committed_patcher_and_device_are_what_the_script_generates():
    build = builder()
    text = build.maxpat_text()
    assert PATCHER.read_text(encoding="utf-8") == text, "run: python scripts/build_max_device.py"
    assert DEVICE.read_bytes() == build.amxd_bytes(text), "run: python scripts/build_max_device.py"


def test_the_device_file_is_an_unfrozen_midi_effect_holding_the_patcher():
    data = DEVICE.read_bytes()
    build = builder()
    chunks = build.read_amxd(data)
    assert list(chunks) == [b"ampf", b"meta", b"ptch"]
    assert data[:4] == b"ampf" and struct.unpack("<I", data[4:8]) == (4,) and chunks[b"ampf"] == b"mmmm"
    assert len(chunks[b"meta"]) == 4
    body = chunks[b"ptch"]
    assert not body.startswith(b"mx@c") and body.endswith(b"\0")
    assert body[:-1].decode("utf-8") == PATCHER.read_text(encoding="utf-8")
    assert json.loads(body[:-1]) == json.loads(PATCHER.read_text(encoding="utf-8"))
    with pytest.raises(ValueError):
        build.read_amxd(data[:-3])  # the reader can fail: a truncated file is refused


def test_every_cord_joins_existing_outlets_and_inlets_of_objects_with_the_right_counts():
    patcher = load()
    graph = Graph(patcher)
    assert len(graph.boxes) == len(patcher["boxes"]), "box ids are unique"
    for box in graph.boxes.values():
        assert (box["numinlets"], box["numoutlets"]) == expected_io(box), box
        assert len(box.get("outlettype", [])) == box["numoutlets"], box
    assert graph.lines, "a patcher with no cords does nothing"
    for (source, outlet), (target, inlet) in graph.lines:
        assert source in graph.boxes and target in graph.boxes
        assert 0 <= outlet < graph.boxes[source]["numoutlets"], (source, outlet)
        assert 0 <= inlet < graph.boxes[target]["numinlets"], (target, inlet)
    assert len(set(graph.lines)) == len(graph.lines), "no cord is doubled"


# --- following messages back from udpsend -------------------------------------------------------
# A message is a tuple of atoms: literal words ("/pad", "3", "1.") or kinds ("<int>", "<float>",
# "<symbol>", "<bang>") where the value is only known when the device runs.


def kind(word: str) -> str:
    if re.fullmatch(r"-?\d+", word):
        return "<int>"
    if re.fullmatch(r"-?\d*\.\d*", word):
        return "<float>"
    return "<symbol>"


def messages(graph: Graph, box_id: str, outlet: int, depth: int = 0) -> set[tuple]:
    assert depth < 40, "a loop in the patcher"
    box = graph.boxes[box_id]
    name, args = cls(box), words(box)[1:]

    def incoming(inlet: int = 0) -> set[tuple]:
        found = set()
        for source, source_outlet in graph.into(box_id, inlet):
            found |= messages(graph, source, source_outlet, depth + 1)
        return found

    if name == "message":
        result = set()
        for message in incoming() or {("<bang>",)}:
            atoms = []
            for word in box["text"].split():
                if word.startswith("$"):
                    n = int(word[1:])
                    assert message != ("<bang>",) and n <= len(message), (box["text"], message)
                    atoms.append(message[n - 1])
                else:
                    atoms.append(word)
            result.add(tuple(atoms))
        return result
    if name == "prepend":
        assert ("<bang>",) not in incoming(), box["text"]
        return {tuple(args) + m for m in incoming()}
    if name in ("pack", "pak"):
        return {tuple(kind(a) if a != "s" else "<symbol>" for a in args)}
    if name == "unpack":
        return {(kind(args[outlet]),)}
    if name == "route":
        result = set()
        for message in incoming():
            if outlet < len(args):
                if message[0] == args[outlet] or (message[0] == kind(args[outlet]) == "<int>"):
                    result.add(message[1:] or ("<bang>",))
            else:
                result.add(message)
        return result
    if name == "speedlim":
        return incoming()
    if name == "gate":  # the data comes into the right inlet and leaves by the open outlet
        return incoming(1)
    if name == "append":
        return {m + tuple(args) for m in incoming()}
    if name == "tosymbol":
        return {("<symbol>",)}
    if name in ("expr", "split"):
        return {("<int>",)}
    if name == "/":
        return {(kind(args[0]),)}
    if name == "t":
        return {("<int>",)} if args[outlet] == "i" else incoming() if args[outlet] == "l" else {("<bang>",)}
    if name == "midiparse":
        return {("<int>", "<int>")} if outlet == 0 else {("<int>",)}
    if name in ("live.dial",):
        return {("<float>",)}
    if name == "live.menu":
        return {("<int>",)} if outlet == 0 else {("<symbol>",)}
    if name in ("live.text", "textbutton", "live.thisdevice") and outlet == 0:
        return {("<bang>",)}
    if name == "pictslider":
        return {("<int>",)}
    if name == "transport":  # bars, beats, units, resolution, tempo, time signature, state, ticks, ...
        return {("<float>",)} if outlet in (2, 3, 4, 7) else {("<int>",)}
    if name == "textedit" and outlet == 0:
        return {("text", "<symbol>"), ("<symbol>",)}  # with or without the "text" selector
    raise AssertionError(f"the test cannot follow messages out of {name!r} outlet {outlet}: model it")


def sample(atom: str, arg) -> object:
    """A value standing for an atom known only at run time, to check it with the engine's own checker."""
    if atom == "<int>":
        return int(arg.low) if arg is not None and arg.low is not None else 0
    if atom == "<float>":
        return 0.5 if arg is None or arg.low is None or arg.low <= 0.5 <= arg.high else float(arg.low)
    if atom == "<symbol>":
        return arg.choices[0] if arg is not None and arg.choices else "default"
    if atom == "<bang>":
        return "bang"
    return atom


def checked(message: tuple):
    address, atoms = message[0], message[1:]
    assert address in COMMANDS, f"{address} is not in the command table"
    spec = COMMANDS[address]
    values = []
    for i, atom in enumerate(atoms):
        arg = spec.args[i % len(spec.args)] if spec.args and (spec.repeat or i < len(spec.args)) else spec.tail
        if atom.startswith("<"):
            values.append(sample(atom, arg))
        else:
            values.append(atom)
    return make_command(address, values)  # raises on a wrong count, type or range


def sent(graph: Graph) -> set[tuple]:
    send = graph.find("udpsend 127.0.0.1 9000")
    found = set()
    for source, outlet in graph.into(send, 0):
        found |= messages(graph, source, outlet)
    return found


def test_everything_that_reaches_the_engine_is_an_address_with_arguments_the_table_accepts():
    out = sent(Graph(load()))
    for message in out:
        try:
            checked(message)
        except LiveEngineError as error:
            pytest.fail(f"the device sends {' '.join(message)}: {error}")
    addresses = {m[0] for m in out}
    assert addresses >= {"/pad", "/xy", "/param", "/mapping", "/patch", "/panic", "/capture", "/subscribe"}, addresses
    assert ("/pad", "<int>", "<int>", "<float>") in out  # MIDI notes
    assert ("/xy", "<float>", "<float>") in out
    assert ("/patch", "<symbol>") in out
    assert {m[1] for m in out if m[0] == "/param"} == {"zoom", "rotation", "center_x", "center_y", "variance", "gain"}
    assert {m[1] for m in out if m[0] == "/mapping"} == set(MAPPING_NAMES)
    assert ("/subscribe", "9001") in out
    assert ("/transport", "<float>", "<float>", "<int>") in out  # Live's tempo, beat and playing flag
    assert ("/groove", "<int>", "<int>") not in out  # the grid's hits are literal rows and columns:
    assert {m for m in out if m[0] == "/groove"} == {("/groove", str(r), str(c)) for r in range(8) for c in range(8)}
    assert {m for m in out if m[0] == "/pad" and m[1] != "<int>"} == {("/pad", str(r), str(c), "1.") for r in range(8) for c in range(8)}
    assert {m[1] for m in out if m[0] == "/tempo/source"} == set(TEMPO_SOURCES) and ("/groove/stop",) in out
    assert {("/stream/xy", "<float>", "<float>"), ("/stream/mix", "<float>"), ("/stream/input", "notes"), ("/stream/input", "audio"),
            ("/stream/off",)} <= out


def test_the_checker_catches_what_the_engine_would_refuse():
    for bad in (("/pad", "<int>"), ("/pad", "<float>", "<int>"), ("/param", "loudness", "<float>"), ("/mapping", "<int>"),
                ("/xy", "<float>", "<float>", "<float>", "<float>"), ("/panic", "<bang>"), ("/nowhere",)):
        with pytest.raises((LiveEngineError, AssertionError)):
            checked(bad)


def test_every_feedback_address_is_routed_somewhere():
    graph = Graph(load())
    receive = graph.find("udpreceive 9001")
    (route,) = [target for target, _ in graph.out_of(receive, 0)]
    args = words(graph.boxes[route])[1:]
    assert cls(graph.boxes[route]) == "route"
    for address in FEEDBACK:
        assert address in args, address
        assert graph.out_of(route, args.index(address)), f"{address} is routed to nothing"
    assert graph.out_of(route, len(args)), "unrouted replies go nowhere"
    subscribe = graph.find("/subscribe 9001")
    starts = {cls(graph.boxes[s]) for s, _ in graph.into(subscribe, 0)}
    assert "live.thisdevice" in starts  # on load


def test_the_grid_is_eight_by_eight_with_row_zero_at_the_bottom_and_feedback_reaches_each_cell():
    graph = Graph(load())
    cells = {b["varname"]: i for i, b in graph.boxes.items() if b.get("varname", "").startswith("pad_")}
    assert len(cells) == 64
    cell_route = graph.find("route " + " ".join(str(i) for i in range(64)))
    for name, box_id in cells.items():
        r, c = map(int, name.split("_")[1:])
        box = graph.boxes[box_id]
        (hit,) = [graph.boxes[t] for t, _ in graph.out_of(box_id, 0)]
        assert hit["text"] == f"{r} {c}"
        assert [graph.boxes[t]["text"] for t, _ in graph.out_of(hit["id"], 0)] == ["gate 2 1"]  # the page: sounds or grooves
        assert graph.into(box_id, 0) == [(cell_route, r * 8 + c)]
        x, y = box["presentation_rect"][:2]
        if r:
            below = graph.boxes[cells[f"pad_{r - 1}_{c}"]]["presentation_rect"]
            assert below[1] > y and below[0] == x  # row 0 is the bottom row
    # what reaches the cells: colour and playing dot messages, "index attribute values"
    texts = {graph.boxes[s]["text"] for s, _ in graph.into(cell_route, 0)}
    assert texts == {"$1 bgcolor $2 $3 $4 1.", "$1 textcolor 1. 1. 1. $2"}


def test_dials_menu_and_layout_follow_the_table():
    patcher = load()
    graph = Graph(patcher)
    for box_id, box in graph.boxes.items():
        if box["maxclass"] == "live.dial":
            value = box["saved_attribute_attributes"]["valueof"]
            (target,) = [graph.boxes[t] for t, _ in graph.out_of(box_id, 0)]
            if target["text"] == "prepend /stream/mix":
                assert (value["parameter_mmin"], value["parameter_mmax"]) == (0.0, 1.0)
                continue
            name = target["text"].split()[2]
            low, high, _ = PARAMS[name]
            assert (value["parameter_mmin"], value["parameter_mmax"]) == (low, high), name
            assert low <= value["parameter_initial"][0] <= high
        if box["maxclass"] == "live.menu":
            wanted = list(MAPPING_NAMES) if box["varname"] == "liveengine mapping" else list(TEMPO_SOURCES)
            assert box["saved_attribute_attributes"]["valueof"]["parameter_enum"] == wanted
    shown = [b["presentation_rect"] for b in graph.boxes.values() if b.get("presentation")]
    assert patcher["openinpresentation"] == 1
    for x, y, w, h in shown:
        assert x >= 0 and y >= 0 and y + h <= 169 and x + w <= patcher["devicewidth"], (x, y, w, h)
    for i, a in enumerate(shown):
        for b in shown[i + 1:]:
            overlap = a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]
            assert not overlap, (a, b)


def test_notes_map_onto_the_grid_from_the_bottom_left():
    texts = [b["box"].get("text", "") for b in load()["boxes"]]
    gate = next(t for t in texts if t.startswith("expr if("))
    # note 36 -> pad 0 (row 0, col 0); 8 notes a row; anything else or a note-off -> -1 (dropped)
    assert "$i1 >= 36" in gate and "$i1 <= 99" in gate and "$i1 - 36" in gate and "$i2 > 0" in gate
    assert "expr $i1 / 8" in texts and "expr $i1 % 8" in texts and "split 0 63" in texts


def test_the_grooves_toggle_switches_the_grid_between_pad_and_groove_and_back():
    graph = Graph(load())
    gate = graph.find("gate 2 1")  # starts with its left outlet open: the sounds
    (toggle,) = [i for i, b in graph.boxes.items() if b.get("varname") == "liveengine page"]
    box = graph.boxes[toggle]
    assert box["maxclass"] == "live.text" and box["mode"] == 1 and (box["text"], box["texton"]) == ("sounds", "grooves")
    (plus,) = [t for t, _ in graph.out_of(toggle, 0)]
    assert graph.boxes[plus]["text"] == "+ 1" and graph.out_of(plus, 0) == [(gate, 0)]  # off -> outlet 1 (left), on -> 2
    send = graph.find("udpsend 127.0.0.1 9000")
    assert {m[0] for m in messages(graph, gate, 0) if m} == {"0", "1", "2", "3", "4", "5", "6", "7"}  # "row col"
    assert ("0", "0") in messages(graph, gate, 0) and ("7", "7") in messages(graph, gate, 1)
    # what each outlet of the gate becomes by the time it reaches udpsend
    def reaching(outlet):
        return {m for s, o in graph.into(send, 0) for m in messages(graph, s, o) if s in downstream(graph, gate, outlet)}
    assert {m[0] for m in reaching(0)} == {"/pad"} and {m[0] for m in reaching(1)} == {"/groove"}


def downstream(graph, box_id, outlet, seen=None):
    seen = set() if seen is None else seen
    for target, _ in graph.out_of(box_id, outlet):
        if target not in seen:
            seen.add(target)
            for k in range(graph.boxes[target]["numoutlets"]):
                downstream(graph, target, k, seen)
    return seen
