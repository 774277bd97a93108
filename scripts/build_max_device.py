"""Generate the Max for Live device from the OSC address table: `python scripts/build_max_device.py [--check]`.

Writes `patches/max/liveengine.maxpat` (the Max patcher, JSON) and `patches/max/liveengine.amxd`
(the same patcher in Live's device container). Everything the device sends is built from
`liveengine.commands` (COMMANDS, PARAMS, MAPPING_NAMES) and everything it routes from the server's
FEEDBACK table, so a change to the table changes the device; `tests/osc/test_max_device.py`
regenerates both files and fails when the committed ones differ. `--check` does the same here.

What the device does (a MIDI effect on a MIDI track):
- MIDI notes 36..99 become `/pad row col velocity` (note 36 = row 0, column 0, bottom left; 8 notes
  a row); every MIDI message also passes through unchanged.
- An 8x8 grid of `textbutton`s (row 0 at the bottom) sends `/pad row col 1.` on mouse down, or
  `/groove row col` while the **grooves** toggle is on (a `gate` between them); beside it a tempo
  source menu (`/tempo/source NAME`) and a **stop groove** button (`/groove/stop`).
- A `pictslider` XY pad sends `/xy x y` (0..1 each), at most one hit per 40 ms while dragged.
- `live.dial`s send `/param NAME value` for the main parameters, ranges from PARAMS; a `live.menu`
  sends `/mapping NAME`; a `textedit` sends `/patch NAME` on Return; `live.text` buttons send
  `/panic` and `/capture`; a `connect` button re-sends `/subscribe 9001`.
- From load, every 20 ms, `transport` (Live's, in a Max for Live device) is sent as `/transport tempo
  beat playing` (beat = ticks / 480), for `/tempo/source transport`; plain messages, as udpsend sends
  no bundles, placed by the engine at their arrival.
- The stream voice (patches with a [stream]): a second `pictslider` sends `/stream/xy x y`, a
  `live.dial` `/stream/mix wet`, buttons `/stream/input notes`, `/stream/input audio` and `/stream/off`.
- On load (`live.thisdevice`) it sends `/subscribe 9001`; `udpreceive 9001` feeds a `route` of the
  FEEDBACK addresses: `/pad/description` colours that pad's cell (`bgcolor`, r g b / 255),
  `/pad/playing` shows or hides a dot on it (`textcolor` alpha), `/progress`, `/level`, `/status`,
  `/error` and `/report` go to readouts; anything else (replies such as `/patch NAME ok`,
  `/capture PATH`) to a "last reply" readout and the Max console.

Object names, inlet/outlet counts and messages were checked against Cycling '74's reference pages
(docs.cycling74.com: textbutton `outputmode`, `bgcolor`, `textcolor`, `legacytextcolor`; live.text in
button mode bangs its left outlet; pictslider `leftvalue`/`rightvalue`/`bottomvalue`/`topvalue`;
zl `slice`/`ecils`; live.menu; textedit `keymode`) and against boxes saved by Max in public patchers
(numinlets/numoutlets: route with N arguments has N+1 inlets and outlets, midiparse 1/8,
live.thisdevice 1/3, textedit 1/4, live.menu 1/3, pictslider 2/2, textbutton 1/3, speedlim 2/1, metro 2/1,
transport 2/9 with its outlets bars, beats, units, resolution, tempo, time signature, state, ticks, and one more;
gate N 2/N, data in the right inlet, 0 closes it and K opens outlet K; append 2/1; + 2/1).

The .amxd container, as far as public sources describe it (Ableton's own reader,
github.com/Ableton/maxdevtools, `maxdiff/amxd_textconv.py`, and the unfrozen MIDI effect
`maxdiff/tests/test_files/Test.amxd` there; also aklaswad's "AMXD file analysis" gist): a flat run
of chunks, each a 4-byte ASCII tag, a 4-byte little-endian length (of the data only) and the data,
with no padding:
- `ampf`, length 4: the device type, `aaaa` audio effect, `iiii` instrument, `mmmm` MIDI effect;
- `meta`, length 4: a 32-bit value whose meaning is not documented (Test.amxd has 1; we write 1);
- `ptch`: the patcher JSON, UTF-8, followed by one NUL byte (a frozen device has an `mx@c`
  archive here instead; an encrypted one a `ciph` chunk before it).
The patcher inside is exactly the .maxpat's text. Test.amxd's patcher also carries a `project`
dictionary (with `amxdtype` 1835887981, "mmmm" as a big-endian integer) that Max writes when it
saves a device; we leave it out so the two files hold the same JSON.

This has NOT been opened in Max or Live: nothing here can run them. What is checked is the
structure (tests/osc/test_max_device.py): cords join existing inlets and outlets, counts match the
objects above, every address and argument count that can reach `udpsend` is in the table, every
FEEDBACK address is routed, and the .amxd parses as described. The OSC messages themselves are
tested end to end from Pure Data and liblo's `oscsend`.
"""

from __future__ import annotations

import argparse
import json
import struct
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from liveengine.commands import COMMANDS, MAPPING_NAMES, PARAMS, TEMPO_SOURCES  # noqa: E402
from liveengine.control.osc.server import FEEDBACK  # noqa: E402
from liveengine.patch.schema import SCHEMA  # noqa: E402

MAXPAT = ROOT / "patches" / "max" / "liveengine.maxpat"
AMXD = ROOT / "patches" / "max" / "liveengine.amxd"

ENGINE_HOST, ENGINE_PORT, FEEDBACK_PORT = "127.0.0.1", 9000, 9001
ROWS = COLS = 8
FIRST_NOTE = 36
DIALS = ("zoom", "rotation", "center_x", "center_y", "variance", "gain")
DEVICE_TYPE = b"mmmm"  # MIDI effect
META_VALUE = 1
XY_STEPS = 1000  # the pictslider's integer range; divided back to 0..1
XY_SPEEDLIM_MS = 40
DEVICE_HEIGHT = 169  # Live's device view height
TRANSPORT_MS = 20  # how often Live's transport is sent (/transport)
TICKS_PER_BEAT = 480  # Max's transport ticks a quarter note

# Where each dial's initial value comes from: the patch schema's default for that setting.
DIAL_DEFAULTS = {name: SCHEMA["grid"][name].default for name in DIALS if name in SCHEMA["grid"]}
DIAL_DEFAULTS["gain"] = SCHEMA["engine"]["master_gain"].default


class Patcher:
    def __init__(self) -> None:
        self.boxes: list[dict] = []
        self.lines: list[dict] = []

    def add(self, maxclass: str, inlets: int, outlets: int, rect, outlettype=None, **attrs) -> str:
        box_id = f"obj-{len(self.boxes) + 1}"
        box = {"id": box_id, "maxclass": maxclass, "numinlets": inlets, "numoutlets": outlets}
        if outlets:
            box["outlettype"] = list(outlettype) if outlettype else [""] * outlets
        box["patching_rect"] = [float(v) for v in rect]
        box.update(attrs)
        self.boxes.append({"box": dict(sorted(box.items()))})
        return box_id

    def obj(self, text: str, inlets: int, outlets: int, rect, outlettype=None) -> str:
        return self.add("newobj", inlets, outlets, rect, outlettype, text=text)

    def msg(self, text: str, rect, **attrs) -> str:
        return self.add("message", 2, 1, rect, text=text, **attrs)

    def comment(self, text: str, rect, presentation=None) -> str:
        attrs = {"text": text}
        if presentation:
            attrs.update(presentation=1, presentation_rect=[float(v) for v in presentation])
        return self.add("comment", 1, 0, rect, **attrs)

    def connect(self, source: str, outlet: int, target: str, inlet: int) -> None:
        self.lines.append({"patchline": {"destination": [target, inlet], "source": [source, outlet]}})


def shown(x, y, w, h) -> dict:
    return {"presentation": 1, "presentation_rect": [float(x), float(y), float(w), float(h)]}


def fmt(value: float) -> str:
    """A float as Max writes it in an object box: `1.`, `0.5`."""
    text = f"{float(value):g}"
    return text + "." if "." not in text and "e" not in text else text


def parameter(longname: str, shortname: str, kind: int, **extra) -> dict:
    return {"valueof": {"parameter_longname": longname, "parameter_shortname": shortname, "parameter_type": kind, **extra}}


def menu_of_messages(p, send: str, varname: str, shortname: str, address: str, names, at: tuple[int, int, int], box: dict) -> None:
    """A live.menu whose choice i sends `address names[i]` to `send`: the menu, a route by index, one message each.
    `at`: (x, route width, message spacing) in the patching view; `box`: where it shows in the device.
    Not a parameter with an initial value: it never switches unasked."""
    x, route_w, step = at
    menu = p.add("live.menu", 1, 3, (x, 60, 100, 15), ["", "", "float"], parameter_enable=1, varname=varname,
                 saved_attribute_attributes=parameter(varname, shortname, 2, parameter_enum=list(names), parameter_initial_enable=0),
                 **box)
    pick = p.obj("route " + " ".join(str(i) for i in range(len(names))), len(names) + 1, len(names) + 1, (x, 90, route_w, 22))
    p.connect(menu, 0, pick, 0)
    for i, name in enumerate(names):
        choice = p.msg(f"{address} {name}", (x + i * step, 120, step - 5, 22))
        p.connect(pick, i, choice, 0)
        p.connect(choice, 0, send, 0)


def build_patcher() -> dict:
    for name in DIALS:
        assert name in PARAMS, f"dial {name} is not a /param name"
    for address in ("/pad", "/xy", "/param", "/mapping", "/patch", "/panic", "/capture", "/subscribe"):
        assert address in COMMANDS, f"{address} is not in the command table"
    p = Patcher()
    send = p.obj(f"udpsend {ENGINE_HOST} {ENGINE_PORT}", 1, 0, (40, 900, 150, 22))

    p.comment("liveengine: drives `liveengine play` over OSC (UDP 127.0.0.1:9000); feedback on port 9001. "
              "Generated by scripts/build_max_device.py from the engine's address table: edit that, not this.",
              (40, 10, 900, 36))

    # MIDI notes 36..99 -> /pad row col velocity; all MIDI passes through.
    midiin = p.obj("midiin", 1, 1, (40, 60, 50, 22), ["int"])
    midiout = p.obj("midiout", 1, 0, (40, 420, 55, 22))
    midiparse = p.obj("midiparse", 1, 8, (110, 90, 100, 22), ["", "", "", "int", "int", "", "int", ""])
    note = p.obj("unpack 0 0", 1, 2, (110, 120, 70, 22), ["int", "int"])
    last = FIRST_NOTE + ROWS * COLS - 1
    gate = p.obj(f"expr if($i2 > 0 && $i1 >= {FIRST_NOTE} && $i1 <= {last}\\, $i1 - {FIRST_NOTE}\\, -1)", 2, 1,
                 (110, 180, 320, 22))
    valid = p.obj(f"split 0 {ROWS * COLS - 1}", 3, 2, (110, 210, 80, 22), ["int", "int"])
    split_pad = p.obj("t i i", 1, 2, (110, 240, 40, 22), ["int", "int"])
    row = p.obj(f"expr $i1 / {COLS}", 1, 1, (110, 270, 80, 22))
    col = p.obj(f"expr $i1 % {COLS}", 1, 1, (210, 270, 80, 22))
    vel = p.obj("/ 127.", 2, 1, (330, 150, 50, 22), ["float"])
    pack_pad = p.obj("pack 0 0 0.", 3, 1, (110, 300, 120, 22))
    prepend_pad = p.obj("prepend /pad", 1, 1, (110, 330, 90, 22))
    p.connect(midiin, 0, midiout, 0)
    p.connect(midiin, 0, midiparse, 0)
    p.connect(midiparse, 0, note, 0)
    p.connect(note, 1, vel, 0)
    p.connect(note, 1, gate, 1)
    p.connect(note, 0, gate, 0)
    p.connect(gate, 0, valid, 0)
    p.connect(valid, 0, split_pad, 0)
    p.connect(split_pad, 1, col, 0)
    p.connect(split_pad, 0, row, 0)
    p.connect(vel, 0, pack_pad, 2)
    p.connect(col, 0, pack_pad, 1)
    p.connect(row, 0, pack_pad, 0)
    p.connect(pack_pad, 0, prepend_pad, 0)
    p.connect(prepend_pad, 0, send, 0)

    # The page: a click on the grid sends "row col" through a gate: out of its left outlet to /pad (with
    # velocity 1.), out of its right to /groove, switched by the "grooves" toggle (set below, in the side column).
    page_gate = p.obj("gate 2 1", 2, 2, (700, 420, 60, 22))
    with_velocity = p.obj("append 1.", 2, 1, (700, 450, 65, 22))
    groove_prepend = p.obj("prepend /groove", 1, 1, (800, 450, 100, 22))
    p.connect(page_gate, 0, with_velocity, 0)
    p.connect(with_velocity, 0, prepend_pad, 0)
    p.connect(page_gate, 1, groove_prepend, 0)
    p.connect(groove_prepend, 0, send, 0)

    # The pad grid: one textbutton a pad, row 0 at the bottom. A click sends "row col" to the page gate.
    cell, gap, grid_x, grid_y = 17, 1, 4, 4
    cells = {}
    for r in range(ROWS):
        for c in range(COLS):
            x, y = 40 + c * 60, 1200 + (ROWS - 1 - r) * 60
            button = p.add(
                "textbutton", 1, 3, (x, y, 24, 24), ["", "", "int"],
                bgcolor=[0.2, 0.2, 0.2, 1.0], bgoncolor=[1.0, 1.0, 1.0, 1.0], legacytextcolor=1, mode=0, outputmode=0,
                parameter_enable=0, text="\u25cf", texton="\u25cf", textcolor=[1.0, 1.0, 1.0, 0.0],
                textoncolor=[0.0, 0.0, 0.0, 1.0], varname=f"pad_{r}_{c}", fontsize=9.0,
                **shown(grid_x + c * (cell + gap), grid_y + (ROWS - 1 - r) * (cell + gap), cell, cell))
            hit = p.msg(f"{r} {c}", (x, y + 30, 50, 22))
            p.connect(button, 0, hit, 0)
            p.connect(hit, 0, page_gate, 1)
            cells[r, c] = button
    grid_w = COLS * (cell + gap)

    # XY pad -> /xy x y (0..1 across the columns and up the rows).
    xy_x, xy_w = grid_x + grid_w + 6, grid_w
    xy = p.add("pictslider", 2, 2, (600, 60, 120, 120), ["int", "int"], parameter_enable=0,
               leftvalue=0, rightvalue=XY_STEPS, bottomvalue=0, topvalue=XY_STEPS, **shown(xy_x, grid_y, xy_w, xy_w))
    x_scale = p.obj(f"/ {XY_STEPS}.", 2, 1, (600, 200, 50, 22), ["float"])
    y_scale = p.obj(f"/ {XY_STEPS}.", 2, 1, (670, 200, 50, 22), ["float"])
    xy_pack = p.obj("pak 0. 0.", 2, 1, (600, 230, 70, 22))
    xy_limit = p.obj(f"speedlim {XY_SPEEDLIM_MS}", 2, 1, (600, 260, 80, 22))
    xy_prepend = p.obj("prepend /xy", 1, 1, (600, 290, 80, 22))
    p.connect(xy, 0, x_scale, 0)
    p.connect(xy, 1, y_scale, 0)
    p.connect(x_scale, 0, xy_pack, 0)
    p.connect(y_scale, 0, xy_pack, 1)
    p.connect(xy_pack, 0, xy_limit, 0)
    p.connect(xy_limit, 0, xy_prepend, 0)
    p.connect(xy_prepend, 0, send, 0)

    # Dials -> /param NAME value (ranges from PARAMS; initial values are the patch schema's defaults).
    dial_x = xy_x + xy_w + 8
    for i, name in enumerate(DIALS):
        low, high, _ = PARAMS[name]
        initial = DIAL_DEFAULTS[name]
        assert low <= initial <= high, (name, initial)
        px, py = dial_x + (i % 3) * 50, grid_y + (i // 3) * 56
        dial = p.add("live.dial", 1, 2, (800 + i * 70, 60, 44, 48), ["", "float"], parameter_enable=1,
                     varname=f"liveengine {name}",
                     saved_attribute_attributes=parameter(f"liveengine {name}", name[:8], 0, parameter_mmin=float(low),
                                                          parameter_mmax=float(high), parameter_initial_enable=1,
                                                          parameter_initial=[float(initial)], parameter_unitstyle=1),
                     **shown(px, py, 44, 48))
        prepend = p.obj(f"prepend /param {name}", 1, 1, (800 + i * 70, 130 + (i % 2) * 25, 140, 22))
        p.connect(dial, 0, prepend, 0)
        p.connect(prepend, 0, send, 0)

    # Mapping menu -> /mapping NAME. Not a parameter with an initial value: it never switches unasked.
    side_x, side_w = dial_x + 3 * 50 + 6, 120
    menu_of_messages(p, send, "liveengine mapping", "mapping", "/mapping", MAPPING_NAMES, (1300, 160, 100),
                     shown(side_x, grid_y, side_w, 15))

    # Patch name -> /patch NAME on Return (one symbol: a name with spaces is refused by the engine).
    p.comment("patch", (1300, 150, 40, 20), presentation=(side_x, grid_y + 19, 36, 18))
    entry = p.add("textedit", 1, 4, (1300, 170, 110, 22), ["", "int", "", ""], keymode=1, lines=1,
                  parameter_enable=0, text="default", **shown(side_x + 36, grid_y + 19, side_w - 36, 18))
    untext = p.obj("route text", 2, 2, (1300, 200, 70, 22))
    as_name = p.obj("tosymbol", 1, 1, (1300, 230, 60, 22))
    patch_prepend = p.obj("prepend /patch", 1, 1, (1300, 260, 90, 22))
    p.connect(entry, 0, untext, 0)
    p.connect(untext, 0, as_name, 0)
    p.connect(untext, 1, as_name, 0)
    p.connect(as_name, 0, patch_prepend, 0)
    p.connect(patch_prepend, 0, send, 0)

    # Buttons (live.text in button mode bangs its left outlet).
    for i, address in enumerate(("/panic", "/capture")):
        label = address[1:]
        button = p.add("live.text", 1, 2, (1450 + i * 80, 150, 60, 20), ["", ""], parameter_enable=1, mode=0,
                       text=label, texton=label, varname=f"liveengine {label}",
                       saved_attribute_attributes=parameter(f"liveengine {label}", label, 2, parameter_enum=["off", "on"]),
                       **shown(side_x + i * 61, grid_y + 40, 59, 18))
        message = p.msg(address, (1450 + i * 80, 180, 60, 22))
        p.connect(button, 0, message, 0)
        p.connect(message, 0, send, 0)

    # The groove page: the toggle (live.text in toggle mode: 0 or 1) opens the gate's right outlet; the tempo
    # source menu sends /tempo/source NAME; a button stops the groove.
    page_toggle = p.add("live.text", 1, 2, (700, 360, 60, 20), ["", ""], parameter_enable=1, mode=1,
                        text="sounds", texton="grooves", varname="liveengine page",
                        saved_attribute_attributes=parameter("liveengine page", "page", 2, parameter_enum=["sounds", "grooves"]),
                        **shown(side_x, grid_y + 110, side_w, 16))
    to_outlet = p.obj("+ 1", 2, 1, (700, 390, 40, 22))
    p.connect(page_toggle, 0, to_outlet, 0)
    p.connect(to_outlet, 0, page_gate, 0)
    menu_of_messages(p, send, "liveengine tempo source", "tempo", "/tempo/source", TEMPO_SOURCES, (1500, 120, 120),
                     shown(side_x, grid_y + 130, side_w, 15))
    stop = p.add("live.text", 1, 2, (1700, 150, 80, 20), ["", ""], parameter_enable=1, mode=0, text="stop groove",
                 texton="stop groove", varname="liveengine groove stop",
                 saved_attribute_attributes=parameter("liveengine groove stop", "stop", 2, parameter_enum=["off", "on"]),
                 **shown(side_x, grid_y + 149, side_w, 16))
    stop_message = p.msg("/groove/stop", (1700, 180, 80, 22))
    p.connect(stop, 0, stop_message, 0)
    p.connect(stop_message, 0, send, 0)
    # The stream voice (a patch with [stream]): its own XY pad -> /stream/xy x y, a mix dial -> /stream/mix,
    # buttons for /stream/input notes|audio and /stream/off.
    stream_x = side_x + side_w + 6
    stream_w = grid_w - 40
    p.comment("stream", (1700, 30, 60, 20), presentation=(stream_x, grid_y, 60, 14))
    pad = p.add("pictslider", 2, 2, (1700, 60, 120, 120), ["int", "int"], parameter_enable=0,
                leftvalue=0, rightvalue=XY_STEPS, bottomvalue=0, topvalue=XY_STEPS, **shown(stream_x, grid_y + 16, stream_w, stream_w))
    sx_scale = p.obj(f"/ {XY_STEPS}.", 2, 1, (1700, 200, 50, 22), ["float"])
    sy_scale = p.obj(f"/ {XY_STEPS}.", 2, 1, (1770, 200, 50, 22), ["float"])
    s_pack = p.obj("pak 0. 0.", 2, 1, (1700, 230, 70, 22))
    s_limit = p.obj(f"speedlim {XY_SPEEDLIM_MS}", 2, 1, (1700, 260, 80, 22))
    s_prepend = p.obj("prepend /stream/xy", 1, 1, (1700, 290, 110, 22))
    p.connect(pad, 0, sx_scale, 0)
    p.connect(pad, 1, sy_scale, 0)
    p.connect(sx_scale, 0, s_pack, 0)
    p.connect(sy_scale, 0, s_pack, 1)
    p.connect(s_pack, 0, s_limit, 0)
    p.connect(s_limit, 0, s_prepend, 0)
    p.connect(s_prepend, 0, send, 0)
    mix = p.add("live.dial", 1, 2, (1850, 60, 44, 48), ["", "float"], parameter_enable=1, varname="liveengine stream mix",
                saved_attribute_attributes=parameter("liveengine stream mix", "mix", 0, parameter_mmin=0.0, parameter_mmax=1.0,
                                                     parameter_initial_enable=1, parameter_initial=[1.0], parameter_unitstyle=1),
                **shown(stream_x + stream_w + 4, grid_y + 16, 44, 48))
    mix_prepend = p.obj("prepend /stream/mix", 1, 1, (1850, 130, 120, 22))
    p.connect(mix, 0, mix_prepend, 0)
    p.connect(mix_prepend, 0, send, 0)
    for i, text in enumerate(("/stream/input notes", "/stream/input audio", "/stream/off")):
        label = text.split("/")[-1].replace("input ", "")
        button = p.add("textbutton", 1, 3, (1850 + i * 90, 180, 80, 20), ["", "", "int"], mode=0, outputmode=0, parameter_enable=0,
                       text=label, texton=label, **shown(stream_x + stream_w + 4, grid_y + 68 + i * 20, 44, 18))
        message = p.msg(text, (1850 + i * 90, 210, 120, 22))
        p.connect(button, 0, message, 0)
        p.connect(message, 0, send, 0)

    # Subscribe on load, and again on demand (after the engine restarts).
    device = p.obj("live.thisdevice", 1, 3, (40, 500, 90, 22), ["bang", "int", "int"])
    connect = p.add("textbutton", 1, 3, (150, 500, 60, 20), ["", "", "int"], mode=0, outputmode=0, parameter_enable=0,
                    text="connect", texton="connect", **shown(side_x, grid_y + 62, side_w, 16))
    subscribe = p.msg(f"/subscribe {FEEDBACK_PORT}", (40, 530, 100, 22))
    p.connect(device, 0, subscribe, 0)
    p.connect(connect, 0, subscribe, 0)
    p.connect(subscribe, 0, send, 0)

    # Live's transport -> /transport tempo beat playing, every TRANSPORT_MS from load: `transport` in a Max for
    # Live device reports Live's own (a bang dumps it; its outlets fire right to left, so the tempo, into
    # pack's left inlet, comes last and sends). Max's udpsend sends no timetagged bundles: the engine places
    # these at their arrival (counted as untimed) and averages the phase over the last 16.
    metro = p.obj(f"metro {TRANSPORT_MS}", 2, 1, (1000, 500, 70, 22), ["bang"])
    transport = p.obj("transport", 2, 9, (1000, 530, 130, 22), ["int", "int", "float", "float", "float", "", "int", "float", ""])
    beats = p.obj(f"/ {TICKS_PER_BEAT}.", 2, 1, (1150, 560, 50, 22), ["float"])
    pack_transport = p.obj("pack 120. 0. 0", 3, 1, (1000, 590, 100, 22))
    prepend_transport = p.obj("prepend /transport", 1, 1, (1000, 620, 120, 22))
    p.connect(device, 0, metro, 0)
    p.connect(metro, 0, transport, 0)
    p.connect(transport, 7, beats, 0)
    p.connect(beats, 0, pack_transport, 1)
    p.connect(transport, 6, pack_transport, 2)
    p.connect(transport, 4, pack_transport, 0)
    p.connect(pack_transport, 0, prepend_transport, 0)
    p.connect(prepend_transport, 0, send, 0)

    # Feedback: udpreceive -> route FEEDBACK addresses.
    receive = p.obj(f"udpreceive {FEEDBACK_PORT}", 1, 1, (40, 600, 110, 22))
    routed = list(FEEDBACK)
    route = p.obj("route " + " ".join(routed), len(routed) + 1, len(routed) + 1, (40, 630, 700, 22))
    p.connect(receive, 0, route, 0)
    out = {address: i for i, address in enumerate(routed)}
    cell_route = p.obj("route " + " ".join(str(i) for i in range(ROWS * COLS)), ROWS * COLS + 1, ROWS * COLS + 1,
                       (40, 1100, 1200, 22))
    for (r, c), button in cells.items():
        p.connect(cell_route, r * COLS + c, button, 0)

    # /pad/description row col class probability loudness brightness r g b -> "index bgcolor r g b 1."
    description = p.obj("t l l", 1, 2, (40, 680, 40, 22))
    first_two = p.obj("zl slice 2", 2, 2, (40, 710, 70, 22))
    where = p.obj("unpack 0 0", 1, 2, (40, 740, 70, 22), ["int", "int"])
    index = p.obj(f"expr $i1 * {COLS} + $i2", 2, 1, (40, 770, 110, 22))
    last_three = p.obj("zl ecils 3", 2, 2, (200, 710, 70, 22))
    rgb = p.obj("unpack 0 0 0", 1, 3, (200, 740, 90, 22), ["int", "int", "int"])
    colour = p.obj("pack 0 0. 0. 0.", 4, 1, (40, 830, 110, 22))
    for k in range(3):
        scale = p.obj("/ 255.", 2, 1, (200 + k * 60, 770, 50, 22), ["float"])
        p.connect(rgb, k, scale, 0)
        p.connect(scale, 0, colour, k + 1)
    paint = p.msg("$1 bgcolor $2 $3 $4 1.", (40, 860, 160, 22))
    p.connect(route, out["/pad/description"], description, 0)
    p.connect(description, 1, last_three, 0)
    p.connect(description, 0, first_two, 0)
    p.connect(last_three, 1, rgb, 0)
    p.connect(first_two, 0, where, 0)
    p.connect(where, 1, index, 1)
    p.connect(where, 0, index, 0)
    p.connect(index, 0, colour, 0)
    p.connect(colour, 0, paint, 0)
    p.connect(paint, 0, cell_route, 0)

    # /pad/playing row col 1|0 -> "index textcolor 1. 1. 1. state": the cell's dot shows while it sounds.
    playing = p.obj("unpack 0 0 0", 1, 3, (400, 680, 90, 22), ["int", "int", "int"])
    playing_index = p.obj(f"expr $i1 * {COLS} + $i2", 2, 1, (400, 710, 110, 22))
    playing_pack = p.obj("pack 0 0", 2, 1, (400, 740, 70, 22))
    dot = p.msg("$1 textcolor 1. 1. 1. $2", (400, 770, 160, 22))
    p.connect(route, out["/pad/playing"], playing, 0)
    p.connect(playing, 2, playing_pack, 1)
    p.connect(playing, 1, playing_index, 1)
    p.connect(playing, 0, playing_index, 0)
    p.connect(playing_index, 0, playing_pack, 0)
    p.connect(playing_pack, 0, dot, 0)
    p.connect(dot, 0, cell_route, 0)

    # Readouts: /status under the grid, /progress and /level by the buttons; /error, /report and
    # any other reply (/patch NAME ok, /capture PATH, /subscribed PORT) under the dials.
    readouts = {
        "/status": ("set voices $1 xruns $2 drops $3 late $4 cpu $5 pads $6 of $7", (grid_x, grid_y + grid_w + 3, xy_x + xy_w - grid_x, 15)),
        "/progress": ("set rendered $1 of $2", (side_x, grid_y + 80, side_w, 15)),
    }
    for k, (address, (text, place)) in enumerate(readouts.items()):
        formatter = p.msg(text, (700 + k * 300, 680, 280, 22))
        display = p.msg("", (700 + k * 300, 710, 280, 22), fontsize=8.0, **shown(*place))
        p.connect(route, out[address], formatter, 0)
        p.connect(formatter, 0, display, 0)
    level = p.add("multislider", 1, 2, (1300, 680, 110, 14), ["", ""], parameter_enable=0, setminmax=[0.0, 1.0], size=1,
                  orientation=0, **shown(side_x, grid_y + 98, side_w, 8))
    p.connect(route, out["/level"], level, 0)
    under_dials = grid_y + 2 * 56
    for k, address in enumerate(("/error", "/report")):
        prepend = p.obj("prepend set", 1, 1, (1300 + k * 300, 720, 80, 22))
        display = p.msg("", (1300 + k * 300, 750, 280, 22), fontsize=8.0, **shown(dial_x, under_dials + 18 * (k + 1), 150, 15))
        p.connect(route, out[address], prepend, 0)
        p.connect(prepend, 0, display, 0)
    other = p.obj("prepend set", 1, 1, (1900, 720, 80, 22))
    reply = p.msg("", (1900, 750, 280, 22), fontsize=8.0, **shown(dial_x, under_dials, 150, 15))
    console = p.obj("print liveengine", 1, 0, (2000, 720, 100, 22))
    p.connect(route, len(routed), other, 0)
    p.connect(route, len(routed), console, 0)
    p.connect(other, 0, reply, 0)

    width = stream_x + stream_w + 4 + 44 + 4
    assert grid_y + grid_w + 3 + 15 <= DEVICE_HEIGHT
    return {"patcher": {
        "fileversion": 1,
        "appversion": {"major": 8, "minor": 5, "revision": 0, "architecture": "x64", "modernui": 1},
        "classnamespace": "box",
        "rect": [100.0, 100.0, 1400.0, 900.0],
        "openinpresentation": 1,
        "devicewidth": float(width),
        "default_fontsize": 10.0,
        "gridsize": [8.0, 8.0],
        "boxes": p.boxes,
        "lines": p.lines,
        "dependency_cache": [],
        "latency": 0,
        "autosave": 0,
    }}


def maxpat_text(patcher: dict | None = None) -> str:
    return json.dumps(patcher or build_patcher(), indent="\t", ensure_ascii=False) + "\n"


def chunk(tag: bytes, data: bytes) -> bytes:
    assert len(tag) == 4
    return tag + struct.pack("<I", len(data)) + data


def amxd_bytes(text: str) -> bytes:
    """The device container: `ampf` (device type), `meta`, `ptch` (patcher JSON + NUL)."""
    return (chunk(b"ampf", DEVICE_TYPE) + chunk(b"meta", struct.pack("<I", META_VALUE))
            + chunk(b"ptch", text.encode("utf-8") + b"\0"))


def read_amxd(data: bytes) -> dict[bytes, bytes]:
    """Split a device file into its chunks ({tag: data}); raises ValueError on a malformed file."""
    chunks, offset = {}, 0
    while offset < len(data):
        if offset + 8 > len(data):
            raise ValueError(f"truncated chunk header at byte {offset}")
        tag, (size,) = data[offset:offset + 4], struct.unpack("<I", data[offset + 4:offset + 8])
        if offset + 8 + size > len(data):
            raise ValueError(f"chunk {tag!r} at byte {offset} runs past the end of the file")
        if tag in chunks:
            raise ValueError(f"chunk {tag!r} appears twice")
        chunks[tag] = data[offset + 8:offset + 8 + size]
        offset += 8 + size
    return chunks


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the committed files instead of writing them")
    args = parser.parse_args()
    text = maxpat_text()
    device = amxd_bytes(text)
    if args.check:
        stale = [path.name for path, want in ((MAXPAT, text.encode()), (AMXD, device))
                 if not path.exists() or path.read_bytes() != want]
        if stale:
            print(f"out of date: {', '.join(stale)}; run: python scripts/build_max_device.py")
            return 1
        print("patches/max is up to date")
        return 0
    MAXPAT.write_text(text, encoding="utf-8")
    AMXD.write_bytes(device)
    print(f"wrote {MAXPAT.relative_to(ROOT)} and {AMXD.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
