"""Score files: one timed command per line, `SECONDS ADDRESS ARGS...`, e.g. `0.250 /pad 3 4 0.8`.

Blank lines and text after `#` are ignored. Lines may come in any order; they
are played by time. Every error names the file and line.
"""

from __future__ import annotations

import math
from pathlib import Path

from liveengine.commands import COMMANDS, Command, parse_command_text
from liveengine.errors import LiveEngineError


def parse_score(text: str, source: str = "<score>") -> list[tuple[float, Command]]:
    """Return (seconds, command) pairs sorted by time; commands carry no frame yet."""
    events = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        when, rest = (line.split(None, 1) + [""])[:2]  # any whitespace separates, as in command text
        try:
            seconds = float(when)
        except ValueError:
            raise LiveEngineError(f"{source}:{number}: {when!r} is not a time; a score line is `SECONDS ADDRESS ARGS`, e.g. `0.250 /pad 3 4 0.8`.") from None
        if not math.isfinite(seconds) or seconds < 0:
            raise LiveEngineError(f"{source}:{number}: time {when} must be a number of seconds >= 0.")
        try:
            command = parse_command_text(rest)
        except LiveEngineError as exc:
            raise LiveEngineError(f"{source}:{number}: {exc.message}") from None
        if not COMMANDS[command.address].timed:
            engine_side = ", ".join(a for a, spec in COMMANDS.items() if spec.timed)
            raise LiveEngineError(f"{source}:{number}: {command.address} is an OSC server request, not a score command; a score may use {engine_side}.")
        events.append((seconds, command))
    events.sort(key=lambda e: e[0])
    return events


def load_score(path: Path | str) -> list[tuple[float, Command]]:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise LiveEngineError(f"score file {path} does not exist.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise LiveEngineError(f"score file {path} cannot be read as UTF-8 text ({exc}).") from None
    return parse_score(text, str(path))


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
            if frame >= now_frame + self.horizon:
                return
            self.index += 1
            try:
                if not self.engine.submit(Command(command.address, command.args, frame)):
                    self.rejected += 1
            except LiveEngineError:
                self.rejected += 1
