"""Controller profiles: each controller's pad notes, LED protocol and mode switches, as TOML data.

A profile is a file in `profiles/` (shipped) or in the user profile folder
(`user_profiles_dir()`), so a user adds a controller without touching code. It is
chosen by port name (regular expressions in `match`, minus `exclude`; the highest
`priority` wins) or named in the patch (`[midi] profile`). A user profile with the
name of a shipped one replaces it.

Rows count from 0 at the bottom, as on the grid. Notes and channels are as MIDI
sends them (channels 0..15, i.e. MIDI channel 1 is 0).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from liveengine.commands import NAME_PATTERN, PARAMS
from liveengine.errors import LiveEngineError
from liveengine.resources import user_profiles_dir

SHIPPED_DIR = Path(__file__).resolve().parent / "profiles"
LED_METHODS = ("novation_rgb", "apc_rgb", "push2_palette", "note_palette", "none")


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


def _fail(path: Path, what: str) -> LiveEngineError:
    return LiveEngineError(f"MIDI profile {path}: {what}.", "Fix the file, or remove it from the profile folder.")


def _int(path: Path, data: dict, key: str, low: int, high: int, default: int | None = None) -> int:
    value = data.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise _fail(path, f"{key} = {value!r} is not allowed; allowed: an integer from {low} to {high}")
    return value


def _bytes_list(path: Path, key: str, value) -> list[list[int]]:
    if not isinstance(value, list) or not all(isinstance(m, list) and m and all(isinstance(b, int) and 0 <= b <= 255 for b in m) for m in value):
        raise _fail(path, f"leds.{key} must be a list of messages, each a list of bytes 0..255")
    return value


def parse_profile(path: Path, text: str | None = None) -> Profile:
    """Read and check one profile file. Raises LiveEngineError naming the file and the key."""
    try:
        data = tomllib.loads(text if text is not None else path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise _fail(path, f"is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start}); a profile is a TOML file in UTF-8") from None
    except OSError as exc:
        raise _fail(path, f"cannot be read ({exc.strerror or exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise _fail(path, f"is not valid TOML: {exc}") from None
    allowed = {"name", "title", "document", "sections", "checked_on_hardware", "match", "exclude", "skip", "priority", "layout", "leds", "cc", "page"}
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise _fail(path, f"unknown key {unknown[0]!r}; allowed keys: {', '.join(sorted(allowed))}")
    name = data.get("name", path.stem)
    if not isinstance(name, str) or not re.fullmatch(NAME_PATTERN, name):
        raise _fail(path, f"name = {name!r} must be 1 to 64 letters, digits, - and _")
    for key in ("match", "exclude", "skip"):
        patterns = data.get(key, [])
        if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
            raise _fail(path, f"{key} must be a list of regular expressions")
        for p in patterns:
            try:
                re.compile(p)
            except re.error as exc:
                raise _fail(path, f"{key} pattern {p!r} is not a regular expression ({exc})") from None
    layout = data.get("layout")
    if not isinstance(layout, dict):
        raise _fail(path, "needs a [layout] table (origin, rows, cols, row_step, col_step, or [[layout.blocks]])")
    raw_blocks = layout.get("blocks", [layout])
    if not (isinstance(raw_blocks, list) and raw_blocks and all(isinstance(raw, dict) for raw in raw_blocks)):
        raise _fail(path, "layout.blocks must be a non-empty list of tables ([[layout.blocks]])")
    blocks = []
    for raw in raw_blocks:
        at = raw.get("at", [0, 0])
        if not (isinstance(at, list) and len(at) == 2 and all(isinstance(v, int) and 0 <= v < 16 for v in at)):
            raise _fail(path, f"layout at = {at!r} must be [row, col] with 0..15")
        block = Block(_int(path, raw, "origin", 0, 127), _int(path, raw, "rows", 1, 16), _int(path, raw, "cols", 1, 16),
                      _int(path, raw, "row_step", -127, 127), _int(path, raw, "col_step", -127, 127, 1), tuple(at))
        notes = [n for n, _ in block.notes()]
        if min(notes) < 0 or max(notes) > 127:
            raise _fail(path, f"layout block from note {block.origin} runs outside notes 0..127")
        blocks.append(block)
    leds = data.get("leds", {"method": "none"})
    if not isinstance(leds, dict):
        raise _fail(path, f"leds = {leds!r} must be a [leds] table")
    method = leds.get("method", "none")
    if method not in LED_METHODS:
        raise _fail(path, f"leds.method = {method!r}; allowed: {', '.join(LED_METHODS)}")
    for key in ("mode_on", "mode_off"):
        _bytes_list(path, key, leds.get(key, []))
    header = leds.get("sysex_header", [])
    if not (isinstance(header, list) and all(isinstance(b, int) and not isinstance(b, bool) and 0 <= b <= 127 for b in header)):
        raise _fail(path, f"leds.sysex_header = {header!r} must be a list of data bytes 0..127")
    raw_cc = data.get("cc", {})
    if not isinstance(raw_cc, dict):
        raise _fail(path, f"cc = {raw_cc!r} must be a [cc] table of CC numbers to parameter names")
    cc = {}
    for number, param in raw_cc.items():
        if not (number.isdigit() and 0 <= int(number) <= 127 and param in PARAMS):
            raise _fail(path, f"cc {number} = {param!r}: keys are CC numbers 0..127, values parameter names ({', '.join(PARAMS)})")
        cc[int(number)] = param
    page = data.get("page", {})
    if not isinstance(page, dict) or set(page) - {"cc", "note"}:
        raise _fail(path, f"page = {page!r} must be a [page] table with cc = N or note = N (the button that switches the pads to grooves)")
    sections = data.get("sections", [])
    return Profile(
        name=name, title=str(data.get("title", name)), document=str(data.get("document", "")),
        sections=tuple(str(s) for s in sections), checked_on_hardware=bool(data.get("checked_on_hardware", False)),
        match=tuple(data.get("match", [])), exclude=tuple(data.get("exclude", [])), skip=tuple(data.get("skip", [])),
        priority=_int(path, data, "priority", -100, 100, 0), blocks=tuple(blocks),
        channel=_int(path, layout, "channel", -1, 15, -1), leds=dict(leds), cc=cc, path=path,
        page_cc=_int(path, page, "cc", 0, 127) if "cc" in page else -1,
        page_note=_int(path, page, "note", 0, 127) if "note" in page else -1,
    )


def load_profiles(user_dir: Path | None = None) -> dict[str, Profile]:
    """Shipped profiles, then the user's (same name replaces). A broken user file is an error, never skipped silently."""
    profiles: dict[str, Profile] = {}
    folders = [SHIPPED_DIR, user_dir if user_dir is not None else user_profiles_dir()]
    for folder in folders:
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.toml")):
            profile = parse_profile(path)
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
