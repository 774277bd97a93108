"""Controller profiles: each controller's pad notes, LED protocol and mode switches, as TOML data.

A profile is a file in `profiles/` (shipped) or in the user profile folder
(`user_profiles_dir()`), so a user adds a controller without touching code. It is
chosen by port name (regular expressions in `match`, minus `exclude`; the highest
`priority` wins) or named in the patch (`[midi] profile`). A user profile with the
name of a shipped one replaces it (load_profiles records it in `replaced`, and
`liveengine midi` and play say so).

Rows count from 0 at the bottom, as on the grid. Notes and channels are as MIDI
sends them (channels 0..15, i.e. MIDI channel 1 is 0).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from liveengine.commands import NAME_PATTERN, PARAMS
from liveengine.errors import LiveEngineError, did_you_mean, every_problem
from liveengine.resources import user_profiles_dir

SHIPPED_DIR = Path(__file__).resolve().parent / "profiles"
LED_METHODS = ("novation_rgb", "apc_rgb", "push2_palette", "note_palette", "none")
GRID_MAX = 16  # the largest grid a patch may ask for is 16 x 16 (patch/schema.py): pads past it never play


@dataclass(frozen=True)
class Block:
    """A rectangle of pads: `rows` x `cols` notes from `origin` (bottom-left), placed at grid pad `at`."""

    origin: int
    rows: int
    cols: int
    row_step: int
    col_step: int
    at: tuple[int, int] = (0, 0)

    def notes(self):
        for r in range(self.rows):
            for c in range(self.cols):
                yield self.origin + r * self.row_step + c * self.col_step, (self.at[0] + r, self.at[1] + c)


@dataclass(frozen=True)
class Profile:
    name: str
    title: str
    document: str
    sections: tuple[str, ...]
    checked_on_hardware: bool
    match: tuple[str, ...]
    exclude: tuple[str, ...]
    skip: tuple[str, ...]  # this device's other ports, never opened unless named with --midi-in (e.g. a DAW port)
    priority: int
    blocks: tuple[Block, ...]
    channel: int  # -1: any channel
    leds: dict
    cc: dict[int, str] = field(default_factory=dict)  # default CC bindings (the patch's [midi.cc] adds to them)
    path: Path | None = None
    page_cc: int = -1  # [page] cc: this button (a CC, pressed = value 64 and up) switches the pads between sounds and grooves
    page_note: int = -1  # [page] note: the same for a button that sends a note

    @property
    def note_to_pad(self) -> dict[int, tuple[int, int]]:
        table: dict[int, tuple[int, int]] = {}
        for block in self.blocks:
            for note, pad in block.notes():
                table.setdefault(note, pad)
        return table

    @property
    def pad_to_note(self) -> dict[tuple[int, int], int]:
        return {pad: note for note, pad in self.note_to_pad.items()}

    @property
    def shape(self) -> tuple[int, int]:
        pads = self.pad_to_note
        return (max(r for r, _ in pads) + 1, max(c for _, c in pads) + 1)

    def matches(self, port_name: str) -> bool:
        return any(re.search(p, port_name, re.IGNORECASE) for p in self.match) and not any(
            re.search(p, port_name, re.IGNORECASE) for p in self.exclude)

    def messages(self, key: str) -> list[list[int]]:
        """Raw mode-switch messages (`mode_on`, `mode_off`), each a complete MIDI message."""
        return [list(m) for m in self.leds.get(key, [])]


TOP_KEYS = ("name", "title", "document", "sections", "checked_on_hardware", "match", "exclude", "skip", "priority",
            "layout", "leds", "cc", "page")
BLOCK_KEYS = ("origin", "rows", "cols", "row_step", "col_step", "at")  # [layout] itself, or each [[layout.blocks]]
LED_KEYS = ("method", "sysex_header", "mode_on", "mode_off", "channel", "palette", "palette_base", "levels")  # read by feedback.py
PAGE_KEYS = ("cc", "note")
FIX = "Fix the file, or remove it from the profile folder."


def _sentence(what: str) -> str:
    return what if what.endswith((".", "?")) else what + "."


def _fail(path: Path, what: str) -> LiveEngineError:
    return LiveEngineError(f"MIDI profile {path}: {_sentence(what)}", FIX)


class _Problems:
    """Every problem in one profile, reported together as the patch loader does: fixing one should not uncover the next."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.found: list[str] = []

    def add(self, what: str) -> None:
        self.found.append(what)

    def unknown_keys(self, data: dict, allowed: tuple[str, ...], prefix: str = "", table: str = "") -> None:
        # A misspelt key would otherwise be ignored: `mehtod` silently meant no LEDs.
        for key in sorted(set(data) - set(allowed)):
            name = f"{prefix}.{key}" if prefix else key
            where = f" in {table}" if table else ""
            hint = did_you_mean(key, allowed)
            self.add(f"unknown key {name!r}; allowed keys{where}: {', '.join(sorted(allowed))}" + (f". {hint}" if hint else ""))

    def integer(self, data: dict, key: str, low: int, high: int, default: int | None = None, prefix: str = "") -> int | None:
        """The value, or None after noting what is wrong (missing, or outside low..high)."""
        name = f"{prefix}.{key}" if prefix else key
        value = data.get(key, default)
        if value is None:  # TOML has no null: the key is not there
            self.add(f"{name} is missing; allowed: an integer from {low} to {high}")
        elif not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            self.add(f"{name} = {value!r} is not allowed; allowed: an integer from {low} to {high}")
        else:
            return value
        return None

    def bytes_list(self, key: str, value) -> None:
        if not isinstance(value, list) or not all(isinstance(m, list) and m and all(isinstance(b, int) and 0 <= b <= 255 for b in m) for m in value):
            self.add(f"leds.{key} must be a list of messages, each a list of bytes 0..255")

    def raise_if_any(self) -> None:
        if self.found:
            raise every_problem(f"MIDI profile {self.path}", [(_sentence(what), FIX) for what in self.found])


def _blocks(problems: _Problems, layout) -> list[Block]:
    if not isinstance(layout, dict):
        problems.add("needs a [layout] table (origin, rows, cols, row_step, col_step, or [[layout.blocks]])")
        return []
    if "blocks" not in layout:
        problems.unknown_keys(layout, BLOCK_KEYS + ("channel",), "layout", "[layout]")
        entries = [("layout", layout)]
    else:
        raw_blocks = layout["blocks"]
        # Each block has its own origin etc.: the same keys beside `blocks` would be ignored.
        problems.unknown_keys(layout, ("blocks", "channel"), "layout", "[layout] with [[layout.blocks]]")
        if not (isinstance(raw_blocks, list) and raw_blocks and all(isinstance(raw, dict) for raw in raw_blocks)):
            problems.add("layout.blocks must be a non-empty list of tables ([[layout.blocks]])")
            return []
        entries = [(f"layout.blocks[{n}]", raw) for n, raw in enumerate(raw_blocks, 1)]
    blocks = []
    for prefix, raw in entries:
        if prefix != "layout":
            problems.unknown_keys(raw, BLOCK_KEYS, prefix, "[[layout.blocks]]")
        at = raw.get("at", [0, 0])
        at_ok = isinstance(at, list) and len(at) == 2 and all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 16 for v in at)
        if not at_ok:
            problems.add(f"{prefix}.at = {at!r} is not allowed; allowed: [row, col] with 0..15")
        values = (problems.integer(raw, "origin", 0, 127, None, prefix), problems.integer(raw, "rows", 1, 16, None, prefix),
                  problems.integer(raw, "cols", 1, 16, None, prefix), problems.integer(raw, "row_step", -127, 127, None, prefix),
                  problems.integer(raw, "col_step", -127, 127, 1, prefix))
        if None in values or not at_ok:
            continue
        block = Block(*values, tuple(at))
        notes = [n for n, _ in block.notes()]
        if min(notes) < 0 or max(notes) > 127:
            problems.add(f"{prefix}: the pads from note {block.origin} run outside notes 0..127")
        top, right = block.at[0] + block.rows - 1, block.at[1] + block.cols - 1
        if top >= GRID_MAX or right >= GRID_MAX:
            problems.add(f"{prefix}: its {block.rows} x {block.cols} pads from at = {list(block.at)} reach row {top}, column {right}, "
                         f"off the {GRID_MAX} x {GRID_MAX} grid; allowed: at[0] + rows and at[1] + cols at most {GRID_MAX}")
        blocks.append((prefix, block))
    _check_notes(problems, blocks)
    return [block for _, block in blocks]


def _check_notes(problems: _Problems, blocks: list[tuple[str, Block]]) -> None:
    # A note plays one pad (note_to_pad keeps the first): a second pad sending it would never play.
    first: dict[int, tuple[str, tuple[int, int]]] = {}
    for prefix, block in blocks:
        for note, pad in block.notes():
            if note not in first:
                first[note] = (prefix, pad)
                continue
            where, other = first[note]
            problems.add(f"{prefix}: note {note} is on two pads, {list(other)} ({where}) and {list(pad)}, and the second would never "
                         "play; allowed: each note on one pad (other origins, or row_step and col_step that repeat no note)")
            return  # one collision said: the rest follow from the same steps


def _check_overlap(problems: _Problems, blocks: list[Block], leds: dict) -> None:
    # Two blocks on one pad both play it, but pad_to_note keeps one note a pad: the other's LEDs never light or clear.
    if leds.get("method", "none") == "none":
        return
    owner: dict[tuple[int, int], int] = {}
    for n, block in enumerate(blocks, 1):
        hit = sorted({owner[pad] for _, pad in block.notes() if pad in owner})
        for m in hit:
            problems.add(f"layout.blocks[{n}] overlaps layout.blocks[{m}] on the grid; allowed with LEDs: blocks on distinct pads "
                         "(each pad lights one note), or leds.method = 'none'")
        for _, pad in block.notes():
            owner.setdefault(pad, n)


def _check_leds(problems: _Problems, leds) -> None:
    if not isinstance(leds, dict):
        problems.add(f"leds = {leds!r} must be a [leds] table")
        return
    problems.unknown_keys(leds, LED_KEYS, "leds", "[leds]")
    method = leds.get("method", "none")
    if method not in LED_METHODS:
        problems.add(f"leds.method = {method!r}; allowed: {', '.join(LED_METHODS)}")
    for key in ("mode_on", "mode_off"):
        problems.bytes_list(key, leds.get(key, []))
    header = leds.get("sysex_header", [])
    if not (isinstance(header, list) and all(isinstance(b, int) and not isinstance(b, bool) and 0 <= b <= 127 for b in header)):
        problems.add(f"leds.sysex_header = {header!r} must be a list of data bytes 0..127")
    # Read as they are sent (feedback.py): a bad value would fail on the LED thread, not here.
    problems.integer(leds, "channel", 0, 15, 0, "leds")
    problems.integer(leds, "levels", 2, 5, 4, "leds")
    problems.integer(leds, "palette_base", 0, 127, 1, "leds")
    palette = leds.get("palette", [[0, 0, 0, 0]])
    if not (isinstance(palette, list) and palette and all(
            isinstance(e, list) and len(e) == 4 and all(isinstance(v, int) and not isinstance(v, bool) for v in e)
            and 0 <= e[0] <= 127 and all(0 <= v <= 255 for v in e[1:]) for e in palette)):
        problems.add(f"leds.palette = {palette!r} is not allowed; allowed: a non-empty list of [index 0..127, r, g, b 0..255]")


def parse_profile(path: Path, text: str | None = None) -> Profile:
    """Read and check one profile file. Raises LiveEngineError naming the file and every bad key (table.key)."""
    try:
        data = tomllib.loads(text if text is not None else path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise _fail(path, f"is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start}); a profile is a TOML file in UTF-8") from None
    except OSError as exc:
        raise _fail(path, f"cannot be read ({exc.strerror or exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise _fail(path, f"is not valid TOML: {exc}") from None
    problems = _Problems(path)
    problems.unknown_keys(data, TOP_KEYS)
    name = data.get("name", path.stem)
    if not isinstance(name, str) or not re.fullmatch(NAME_PATTERN, name):
        problems.add(f"name = {name!r} must be 1 to 64 letters, digits, - and _")
    for key in ("match", "exclude", "skip"):
        patterns = data.get(key, [])
        if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
            problems.add(f"{key} must be a list of regular expressions")
            continue
        for p in patterns:
            try:
                re.compile(p)
            except re.error as exc:
                problems.add(f"{key} pattern {p!r} is not a regular expression ({exc})")
    priority = problems.integer(data, "priority", -100, 100, 0)
    layout = data.get("layout")
    blocks = _blocks(problems, layout)
    channel = problems.integer(layout, "channel", -1, 15, -1, "layout") if isinstance(layout, dict) else -1
    leds = data.get("leds", {"method": "none"})
    _check_leds(problems, leds)
    if isinstance(leds, dict) and isinstance(layout, dict) and "blocks" in layout:
        _check_overlap(problems, blocks, leds)
    raw_cc = data.get("cc", {})
    cc = {}
    if not isinstance(raw_cc, dict):
        problems.add(f"cc = {raw_cc!r} must be a [cc] table of CC numbers to parameter names")
        raw_cc = {}
    for number, param in raw_cc.items():
        if not (number.isdigit() and 0 <= int(number) <= 127 and param in PARAMS):
            problems.add(f"cc {number} = {param!r}: keys are CC numbers 0..127, values parameter names ({', '.join(PARAMS)})")
        else:
            cc[int(number)] = param
    page = data.get("page", {})
    if not isinstance(page, dict):
        problems.add(f"page = {page!r} must be a [page] table with cc = N or note = N (the button that switches the pads to grooves)")
        page = {}
    problems.unknown_keys(page, PAGE_KEYS, "page", "[page]")
    page_cc = problems.integer(page, "cc", 0, 127, None, "page") if "cc" in page else -1
    page_note = problems.integer(page, "note", 0, 127, None, "page") if "note" in page else -1
    problems.raise_if_any()
    sections = data.get("sections", [])
    return Profile(
        name=name, title=str(data.get("title", name)), document=str(data.get("document", "")),
        sections=tuple(str(s) for s in sections), checked_on_hardware=bool(data.get("checked_on_hardware", False)),
        match=tuple(data.get("match", [])), exclude=tuple(data.get("exclude", [])), skip=tuple(data.get("skip", [])),
        priority=priority, blocks=tuple(blocks), channel=channel, leds=dict(leds), cc=cc, path=path,
        page_cc=page_cc, page_note=page_note,
    )


class Profiles(dict):
    """Profiles by name; `replaced`: shipped profile name -> the user file that replaces it."""

    def __init__(self) -> None:
        super().__init__()
        self.replaced: dict[str, Path] = {}

    def notes(self) -> list[str]:
        """One line per replaced shipped profile, for the caller to say."""
        return [f"your profile {path} replaces the shipped profile {name!r}" for name, path in sorted(self.replaced.items())]


def load_profiles(user_dir: Path | None = None) -> Profiles:
    """Shipped profiles, then the user's (same name replaces, recorded in .replaced). A broken user file is an error, never skipped silently."""
    profiles = Profiles()
    folders = [SHIPPED_DIR, user_dir if user_dir is not None else user_profiles_dir()]
    for folder in folders:
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.toml")):
            profile = parse_profile(path)
            shipped = profiles.get(profile.name)
            if shipped is not None and shipped.path is not None and shipped.path.parent == SHIPPED_DIR and folder != SHIPPED_DIR:
                profiles.replaced[profile.name] = path
            profiles[profile.name] = profile
    return profiles


def choose_profile(port_name: str, profiles: dict[str, Profile], override: str = "") -> Profile:
    """The profile for a port: the patch's override if given, else the best match by name (generic last)."""
    if override:
        if override not in profiles:
            raise LiveEngineError(f"[midi] profile = {override!r} is not a known MIDI profile; known: {', '.join(sorted(profiles))}.",
                                  f"Add {override}.toml to {user_profiles_dir()}, or pick a known one.")
        return profiles[override]
    candidates = [p for p in profiles.values() if p.matches(port_name)]
    if not candidates:
        return profiles["generic"]
    return max(candidates, key=lambda p: (p.priority, p.name))


def skipped(port_name: str, profiles: dict[str, Profile]) -> bool:
    """True for ports no profile wants opened automatically (a controller's DAW port, ALSA's Midi Through)."""
    return any(re.search(p, port_name, re.IGNORECASE) for profile in profiles.values() for p in profile.skip)
