"""The Max for Live patcher: well-formed, wired to existing objects, and sending only addresses in the table.

Max itself cannot run here, so this checks the patcher's structure; the same OSC messages are
tested end to end from Pure Data and liblo's oscsend.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from liveengine.commands import COMMANDS, PARAMS

PATCHER = Path(__file__).resolve().parents[2] / "patches" / "max" / "liveengine.maxpat"


def load() -> dict:
    return json.loads(PATCHER.read_text())["patcher"]


def test_every_cord_joins_existing_outlets_and_inlets():
    patcher = load()
    boxes = {b["box"]["id"]: b["box"] for b in patcher["boxes"]}
    assert patcher["lines"], "a patcher with no cords does nothing"
    for line in patcher["lines"]:
        (source, outlet), (target, inlet) = line["patchline"]["source"], line["patchline"]["destination"]
        assert source in boxes and target in boxes, line
        assert 0 <= outlet < boxes[source]["numoutlets"], line
        assert 0 <= inlet < boxes[target]["numinlets"], line


def test_it_sends_only_known_addresses_to_the_engine_port():
    patcher = load()
    texts = [b["box"].get("text", "") for b in patcher["boxes"]]
    assert "udpsend 127.0.0.1 9000" in texts
    sent = set()
    for text in texts:
        for match in re.finditer(r"(?:prepend |^)(/[a-z/]+)(?: (\w+))?", text):
            sent.add(match.group(1))
            if match.group(1) == "/param":
                assert match.group(2) in PARAMS, text
    assert sent >= {"/pad", "/param", "/panic", "/subscribe"}
    assert sent <= set(COMMANDS), sent - set(COMMANDS)


def test_notes_map_onto_the_grid_from_the_bottom_left():
    texts = [b["box"].get("text", "") for b in load()["boxes"]]
    gate = next(t for t in texts if t.startswith("expr if("))
    # note 36 -> pad 0 (row 0, col 0); 8 notes a row; anything else or a note-off -> -1 (dropped)
    assert "$i1 >= 36" in gate and "$i1 <= 99" in gate and "$i1 - 36" in gate and "$i2 > 0" in gate
    assert "expr $i1 / 8" in texts and "expr $i1 % 8" in texts
