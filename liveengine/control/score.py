"""Score files: one timed command per line, `SECONDS ADDRESS ARGS...`, e.g. `0.250 /pad 3 4 0.8`.

Blank lines and text after `#` are ignored. Lines may come in any order; they
are played by time. Every error names the file and line.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Callable

from liveengine.commands import COMMANDS, Command, parse_command_text
from liveengine.errors import LiveEngineError


def parse_score(text: str, source: str = "<score>", fits: Callable[[Command], None] | None = None) -> list[tuple[float, Command]]:
    """Return (seconds, command) pairs sorted by time; commands carry no frame yet.

    Every line is checked before anything plays, and every bad one is reported in one
    LiveEngineError, a line each (`file:line: what was wrong; what is allowed`), so a score
    is fixed in one go. `fits` (the loaded engine's Engine.check_fits) also refuses what the
    patch cannot play: a pad outside its grid, an unknown choke group, a wrong latent size.
    """
    events, errors = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        try:
            seconds, command = _parse_line(line)
            if fits is not None:
                fits(command)
        except LiveEngineError as exc:
            errors.append(f"{source}:{number}: {exc.message}")
            continue
        events.append((seconds, command))
    if errors:
        raise LiveEngineError("\n".join(errors), f"({len(errors)} bad lines in {source}: fix them all, then run again.)" if len(errors) > 1 else "")
    events.sort(key=lambda e: e[0])
    return events


def _parse_line(line: str) -> tuple[float, Command]:
    when, rest = (line.split(None, 1) + [""])[:2]  # any whitespace separates, as in command text
    try:
        seconds = float(when)
    except ValueError:
        raise LiveEngineError(f"{when!r} is not a time; a score line is `SECONDS ADDRESS ARGS`, e.g. `0.250 /pad 3 4 0.8`.") from None
    if not math.isfinite(seconds) or seconds < 0:
        raise LiveEngineError(f"time {when} must be a number of seconds >= 0.")
    command = parse_command_text(rest)
    if not COMMANDS[command.address].timed:
        engine_side = ", ".join(a for a, spec in COMMANDS.items() if spec.timed)
        raise LiveEngineError(f"{command.address} is an OSC server request, not a score command; a score may use {engine_side}.")
    return seconds, command


def load_score(path: Path | str, fits: Callable[[Command], None] | None = None) -> list[tuple[float, Command]]:
    """parse_score on a file's text; errors name the file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise LiveEngineError(f"score file {path} does not exist.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise LiveEngineError(f"score file {path} cannot be read as UTF-8 text ({exc}).") from None
    return parse_score(text, str(path), fits)


class ScoreFeeder:
    """Feeds timed score commands to the engine a little ahead of their time.

    Commands get exact frames (`start_frame + seconds * rate`), so the audio
    thread starts them at their sample inside the block; only `horizon_frames`
    worth are queued at once, which keeps the engine's schedule small.
    """

    def __init__(self, engine, events: list[tuple[float, Command]], start_frame: int, horizon_frames: int, loop_seconds: float | None = None) -> None:
        self.engine = engine
        self.events = events
        self.start_frame = start_frame
        self.horizon = horizon_frames
        self.loop_frames = None if loop_seconds is None else int(round(loop_seconds * engine.options.samplerate))
        self.index = 0
        self.rejected = 0
        self.end_frame: int | None = None  # nothing at or after this frame is played (a render's end)

    @property
    def finished(self) -> bool:
        return self.loop_frames is None and self.index >= len(self.events)

    def feed(self, now_frame: int) -> None:
        rate = self.engine.options.samplerate
        while self.events:
            if self.index >= len(self.events):
                if self.loop_frames is None:
                    return
                self.index = 0
                self.start_frame += self.loop_frames
            seconds, command = self.events[self.index]
            frame = self.start_frame + int(round(seconds * rate))
            if frame >= now_frame + self.horizon or (self.end_frame is not None and frame >= self.end_frame):
                return
            self.index += 1
            try:
                if not self.engine.submit(Command(command.address, command.args, frame)):
                    self.rejected += 1
            except LiveEngineError:
                self.rejected += 1
