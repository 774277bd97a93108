"""Load and validate a TOML patch once; the rest of the engine trusts the result."""

from __future__ import annotations

import copy
import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from liveengine.decoders.registry import find_model
from liveengine.errors import LiveEngineError, did_you_mean, every_problem
from liveengine.grid.mappings import CORNER_NAMES
from liveengine.groove.section import check_section as check_groove_section
from liveengine.stream.section import check_section as check_stream_section
from liveengine.options import EngineOptions
from liveengine.patch.schema import SCHEMA
from liveengine.resources import patches_dir, user_patches_dir

NAME = re.compile(r"^[A-Za-z0-9_-]+$")


@dataclass(frozen=True)
class Patch:
    path: Path
    name: str
    model: str
    model_options: dict[str, Any]
    grid: dict[str, Any]
    audio: dict[str, Any]
    engine: dict[str, Any]
    choke: dict[str, tuple[tuple[int, int], ...]] = field(default_factory=dict)
    demo_score: Path | None = None
    demo_seconds: float = 8.0
    midi: dict[str, Any] = field(default_factory=dict)  # the checked [midi] section (liveengine/control/midi)
    groove: dict[str, Any] = field(default_factory=dict)  # the checked [groove] section (liveengine/groove/section.py)
    web: dict[str, Any] = field(default_factory=dict)  # the checked [web] section (liveengine/control/web)
    stream: dict[str, Any] = field(default_factory=dict)  # the checked [stream] section (liveengine/stream/section.py)

    def options(self, **overrides: Any) -> EngineOptions:
        """EngineOptions from the patch, with CLI overrides (samplerate, blocksize) on top."""
        audio = {**self.audio, **{k: v for k, v in overrides.items() if v is not None}}
        return EngineOptions(
            samplerate=audio["samplerate"],
            blocksize=audio["blocksize"],
            channels=max(audio["channels"], *audio["output"]),
            output_pair=tuple(audio["output"]),
            timing=audio["timing"],
            voices=self.engine["voices"],
            release_voices=self.engine["release_voices"],
            steal=self.engine["steal"],
            velocity_curve=self.engine["velocity_curve"],
            master_gain=self.engine["master_gain"],
            limiter_ceiling=self.engine["limiter_ceiling"],
            fade_ms=self.engine["fade_ms"],
        )

    def choke_group_of(self) -> dict[tuple[int, int], int]:
        """Pad (row, col) -> choke group index."""
        table = {}
        for index, pads in enumerate(self.choke.values()):
            for pad in pads:
                table[pad] = index
        return table


def _finite(number: int | float) -> bool:
    try:
        return math.isfinite(number)
    except OverflowError:  # an integer too large for a float
        return False


_KEY = r"""(?:[A-Za-z0-9_-]+|"[^"\n]*"|'[^'\n]*')(?:\s*\.\s*(?:[A-Za-z0-9_-]+|"[^"\n]*"|'[^'\n]*'))*"""
_KEY_LINE = re.compile(rf"^\s*({_KEY})\s*=")
_HEADER_LINE = re.compile(rf"^\s*\[\[?\s*({_KEY})\s*\]\]?")
_AT = re.compile(r"\(at line (\d+), column \d+\)")


def _twice(text: str, error: str) -> str:
    """What to add to tomllib's `Cannot overwrite a value (at line N, ...)`, which names no key: `: [table] key is
    given twice`, naming the key whose value ends at line N (the nearest key line at or above it: a value may span
    lines) and the table it is in. "" for other errors, or where no key line is found."""
    at = _AT.search(error)
    if not error.startswith("Cannot overwrite a value") or at is None:
        return ""
    lines = text.splitlines()
    key = None
    for number in range(min(int(at.group(1)), len(lines)) - 1, -1, -1):
        if key is None:
            if _HEADER_LINE.match(lines[number]):
                return ""  # a table header clashing with a value: no key line to name
            found = _KEY_LINE.match(lines[number])
            key = found.group(1) if found else None
        else:
            header = _HEADER_LINE.match(lines[number])
            if header:
                key = f"[{header.group(1)}] {key}"
                break
    if key is None:
        return ""
    if "." in key.split("] ")[-1]:  # a.b = 2 after a = 1: the clash is with a key it is inside
        return f": {key} clashes with a value given before it"
    return f": {key} is given twice; a key is given once in a table"


def patch_folders() -> tuple[Path, Path]:
    """Where patches are found by name: the user's patch folder (MIDI learn's copies), then the shipped one."""
    return user_patches_dir(), patches_dir()


def _patch_names() -> list[str]:
    return sorted({p.stem for folder in patch_folders() for p in folder.glob("*.toml")})


def _not_found(name: str, allowed: str) -> LiveEngineError:
    names = _patch_names()
    return LiveEngineError(f"patch {name!r} not found; {allowed} ({', '.join(names)}).", did_you_mean(Path(name).stem, names))


def _named(name: str) -> Path | None:
    if not NAME.match(name):
        return None
    for folder in patch_folders():
        if (folder / f"{name}.toml").is_file():
            return folder / f"{name}.toml"
    return None


def find_patch(name: str) -> Path:
    """A patch by name from the patch folders, never a file path (what /patch loads over the network)."""
    path = _named(name)
    if path is None:
        raise _not_found(name, "name a patch in the patch folders " + " or ".join(str(f) for f in patch_folders()))
    return path


def resolve_patch(name_or_path: str | None) -> Path:
    """None -> the shipped default; a bare name -> a patch in the patch folders; else a file path."""
    if name_or_path is None:
        return patches_dir() / "default.toml"
    candidate = Path(name_or_path)
    named = None if candidate.suffix == ".toml" else _named(name_or_path)
    if named is not None:
        return named
    if candidate.is_dir():  # not "not found": it is there, only not a file
        raise LiveEngineError(f"patch {name_or_path} is a folder, not a patch file; give a .toml file path or a patch name "
                              f"({', '.join(_patch_names())}).")
    if not candidate.is_file():
        raise _not_found(name_or_path, "give a .toml file path or a patch name")
    return candidate


def load_patch(path: Path | str) -> Patch:
    """Read, parse and validate a patch file. Raises LiveEngineError naming file, key, value and what is allowed."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise LiveEngineError(f"patch file {path} does not exist.", "Check the path, or run without a patch for the default.") from None
    except IsADirectoryError:
        raise LiveEngineError(f"patch file {path} is a folder, not a patch file; expected a .toml file.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise LiveEngineError(f"patch file {path} cannot be read as UTF-8 text ({exc}).") from None
    text = text.removeprefix("\ufeff")  # the byte-order mark Windows editors write: TOML refuses it, the text is fine
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise LiveEngineError(f"patch file {path} is not valid TOML: {exc}{_twice(text, str(exc))}.", "Fix the line it names.") from None

    # Every error is collected and reported at once: fixing one should not uncover the next.
    problems: list[tuple[str, str]] = []  # (what is wrong, how to fix it)
    values: dict[str, dict[str, Any]] = {}
    for section, fields in SCHEMA.items():
        given = data.get(section, {})
        if not isinstance(given, dict):
            problems.append((f"[{section}] must be a table, not {given!r}.", ""))
            given = {}
        if section == "choke":
            values[section] = given
            continue
        unknown = sorted(set(given) - set(fields))
        for key in unknown:
            problems.append((f"[{section}] has unknown key {key!r}; allowed keys: {', '.join(fields)}.", ""))
        section_values = {}
        for key, spec in fields.items():
            value = given.get(key, copy.deepcopy(spec.default))
            if key in given and not spec.check(value):
                problems.append((f"[{section}] {key} = {value!r} is not allowed; allowed: {spec.allowed}.", ""))
                value = copy.deepcopy(spec.default)  # so the checks below still run
            section_values[key] = value
        values[section] = section_values
    for section in sorted(set(data) - set(SCHEMA)):
        problems.append((f"unknown section [{section}]; allowed sections: {', '.join(SCHEMA)}.", ""))

    model = values["model"]["decoder"]
    try:
        find_model(model, path)
    except LiveEngineError as exc:
        problems.append((f"[model] decoder = {model!r}: {exc.message}", exc.fix))

    grid = values["grid"]
    # Said here, corner by corner: a NaN or infinity would reach the model, which would be blamed for the silence.
    # (How far out a corner may lie depends on the model: grid/anchors.check_latent_point.)
    for section, files in (("grid", "an audio file path"), ("groove", "a MIDI file path")):
        for n, (corner, entry) in enumerate(zip(CORNER_NAMES, values[section]["corners"]), 1):
            bad = next(((j, x) for j, x in enumerate(entry, 1) if not _finite(x)), None) if isinstance(entry, list) else None
            if bad is not None:
                problems.append((f"[{section}] corners: corner {n} ({corner}) number {bad[0]} is {bad[1]!r}; allowed: {files} "
                                 "relative to the patch, or a latent point of finite numbers.", ""))
    choke: dict[str, tuple[tuple[int, int], ...]] = {}
    seen: dict[tuple[int, int], str] = {}
    for group, pads in values["choke"].items():
        allowed = f"a list of [row, col] pads inside the {grid['rows']}x{grid['cols']} grid"
        if not NAME.match(group) or not isinstance(pads, list) or not all(
            isinstance(p, list) and len(p) == 2 and all(isinstance(i, int) and not isinstance(i, bool) for i in p)
            and 0 <= p[0] < grid["rows"] and 0 <= p[1] < grid["cols"] for p in pads
        ):
            problems.append((f"[choke] {group} = {pads!r} is not allowed; allowed: a name of letters, digits, - or _, set to {allowed}.", ""))
            continue
        if len({tuple(p) for p in pads}) != len(pads):
            problems.append((f"[choke] {group} lists a pad twice: {pads!r}.", ""))
            continue
        for p in pads:
            if tuple(p) in seen:
                problems.append((f"[choke] pad {p} is in both {seen[tuple(p)]!r} and {group!r}; a pad has at most one choke group.", ""))
            seen[tuple(p)] = group
        choke[group] = tuple(tuple(p) for p in pads)

    audio = values["audio"]
    if max(audio["output"]) > audio["channels"]:
        problems.append((f"[audio] output = {audio['output']} needs {max(audio['output'])} channels but channels = {audio['channels']}; "
                         "raise channels or pick lower outputs.", ""))
    demo = values["demo"]
    score = None
    if demo["score"]:
        # A copy of a shipped patch keeps naming the shipped score, as it keeps naming the shipped model.
        places = [path.parent / demo["score"], patches_dir() / demo["score"]]
        score = next((place for place in places if place.is_file()), None)
        if score is None:
            shipped = ", ".join(sorted(p.name for p in patches_dir().glob("*.score"))) or "none"
            problems.append((f"[demo] score = {demo['score']!r} is neither a file next to the patch ({places[0].absolute()}) "
                             f"nor a shipped score ({shipped}).", 'Fix the name, or set score = "" for no demo.'))
    # Checked here, not at the program change: on stage a typo would only show when the button is pressed.
    for name in values["midi"]["programs"]:
        if not (path.parent / name).is_file():
            problems.append((f"[midi] programs names {name!r}, which is not a file next to the patch ({(path.parent / name).absolute()}); "
                             "allowed: patch files relative to this patch.", "Fix the name, or remove it from the list."))
    problems += check_groove_section(values["groove"], grid, path)
    problems += check_stream_section(values["stream"], path)
    if problems:
        raise every_problem(str(path), problems)
    return Patch(
        path=path,
        name=values["patch"]["name"] or path.stem,
        model=values["model"]["decoder"],
        model_options={k: v for k, v in values["model"].items() if k != "decoder"},
        grid=grid,
        audio=audio,
        engine=values["engine"],
        choke=choke,
        demo_score=score,
        demo_seconds=demo["seconds"],
        midi=values["midi"],
        groove=values["groove"],
        web=values["web"],
        stream=values["stream"],
    )
