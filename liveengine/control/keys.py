"""The computer keyboard as a 4x4 block of pads (`play --keys`), for a laptop with no controller.

`BLOCK_KEYS` and `MOVES` are the one keymap: a panel on screen uses the same table.
The block's bottom row is `zxcv`, its top row `1234`, as the pads lie on a controller
(row 0 at the bottom); the arrow keys move the block over the grid; Shift plays at
full velocity.

Held keys. A terminal sends no key-up, and repeats a held key (after 0.25 to 0.6 s,
then every 30 ms or so). Two ways to tell a repeat from a new press:
- Terminals that speak the kitty keyboard protocol (kitty, foot, WezTerm, Ghostty,
  recent iTerm2) are asked to report every key with its event type (press, repeat,
  release): repeats and releases are ignored, exactly.
- Elsewhere, the same key again less than `REPEAT_GAP` after its last event is a repeat.
  The terminal's first repeat comes after its delay, and looks like a second press:
  a key held longer than that plays twice, then stays silent however long it is held.
"""

from __future__ import annotations

import os
import re
import select
import signal
import sys
import threading
import time
from dataclasses import dataclass
from typing import Callable

BLOCK_KEYS = ("zxcv", "asdf", "qwer", "1234")  # block rows 0 (bottom) to 3 (top)
MOVES = {"up": (1, 0), "down": (-1, 0), "right": (0, 1), "left": (0, -1)}
ARROWS = {"A": "up", "B": "down", "C": "right", "D": "left"}
VELOCITY, ACCENT = 0.8, 1.0  # a key, a key with Shift
REPEAT_GAP = 0.08  # s: terminals repeat every 30-50 ms; nobody re-presses one key that fast

# Ask for every key as an escape code with its event type (flags 8 + 2), and undo it.
KITTY_ON, KITTY_OFF = b"\x1b[>10u", b"\x1b[<u"
_CSI = re.compile(rb"\x1b\[(?:(\d+)(?:;(\d+)(?::(\d+))?)?)?([ABCDu~])")
PRESS, REPEAT, RELEASE = 1, 2, 3


@dataclass(frozen=True)
class Key:
    name: str  # a character ("q"), or "up", "down", "left", "right"
    shift: bool = False
    event: int = PRESS
    exact: bool = False  # the terminal said whether it was a repeat (kitty protocol)
    ctrl: bool = False


def parse_keys(data: bytes) -> list[Key]:
    """Terminal input bytes to keys: plain characters, arrow escapes, kitty-protocol CSI u."""
    keys, i = [], 0
    while i < len(data):
        match = _CSI.match(data, i)
        if match:
            code, mods, event, final = match.groups()
            bits = int(mods) - 1 if mods else 0
            shift, ctrl = bool(bits & 1), bool(bits & 4)
            kind = int(event) if event else PRESS
            exact = event is not None or final == b"u"
            if final == b"u" and code:
                char = chr(int(code))
                keys.append(Key(char.lower(), shift or char.isupper(), kind, exact, ctrl))
            elif final.decode() in ARROWS:
                keys.append(Key(ARROWS[final.decode()], shift, kind, exact, ctrl))
            i = match.end()
            continue
        if data[i] == 0x1B:  # an escape we do not use (Esc itself, function keys): skip it
            i += 1
            continue
        char = chr(data[i])
        keys.append(Key(char.lower(), char.isupper()))
        i += 1
    return keys


class KeyBlock:
    """Which pad each key plays: the block's place on the grid, moved by the arrows."""

    def __init__(self, rows: int, cols: int) -> None:
        self.rows, self.cols = rows, cols
        self.row = self.col = 0  # the block's bottom-left pad

    def pad(self, key: str) -> tuple[int, int] | None:
        for r, line in enumerate(BLOCK_KEYS):
            c = line.find(key)
            if c >= 0:
                return self.row + r, self.col + c
        return None

    def move(self, direction: str) -> bool:
        dr, dc = MOVES[direction]
        row = min(max(self.row + dr, 0), self.rows - len(BLOCK_KEYS))
        col = min(max(self.col + dc, 0), self.cols - len(BLOCK_KEYS[0]))
        moved = (row, col) != (self.row, self.col)
        self.row, self.col = row, col
        return moved


class RepeatFilter:
    """True for a key that is a terminal's repeat of a held key, not a new press (see the module doc)."""

    def __init__(self, gap: float = REPEAT_GAP) -> None:
        self.gap = gap
        self._last: dict[str, float] = {}

    def is_repeat(self, key: Key, now: float) -> bool:
        if key.exact:
            return key.event != PRESS
        previous = self._last.get(key.name)
        self._last[key.name] = now
        return previous is not None and now - previous < self.gap


def check_terminal(fd: int) -> None:
    if not os.isatty(fd):
        from liveengine.errors import LiveEngineError

        raise LiveEngineError("--keys needs a terminal, and standard input is not one.",
                              "Run play --keys in a terminal window, or play with a controller, OSC or --score.")


class KeyboardPlayer:
    """Reads the terminal (cbreak mode: Ctrl-C still stops `play`) and plays the block's pads."""

    def __init__(self, engine, say: Callable[[str], None], fd: int | None = None) -> None:
        self.engine = engine
        self.say = say
        self.fd = sys.stdin.fileno() if fd is None else fd
        check_terminal(self.fd)
        setting = engine.instrument.setting
        self.block = KeyBlock(setting.rows, setting.cols)
        self.repeats = RepeatFilter()
        self.hits = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._saved = None

    def start(self) -> None:
        import termios
        import tty

        self._saved = termios.tcgetattr(self.fd)
        tty.setcbreak(self.fd)  # keys arrive one by one, unechoed; Ctrl-C is still SIGINT
        self._write(KITTY_ON)  # ignored by terminals that do not speak it
        rows = " / ".join(reversed(BLOCK_KEYS))
        self.say(f"keys: {rows} play a 4x4 block of pads (top row first), arrows move it, Shift plays at full velocity")
        self._say_block()
        self._thread = threading.Thread(target=self._run, name="liveengine-keys", daemon=True)
        self._thread.start()

    def _say_block(self) -> None:
        b = self.block
        self.say(f"keys: block at rows {b.row}-{b.row + 3}, columns {b.col}-{b.col + 3}")

    def _run(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self.fd], [], [], 0.1)
            if not ready:
                continue
            try:
                data = os.read(self.fd, 256)
            except OSError:
                return
            if not data:
                return
            now = time.monotonic()
            for key in parse_keys(data):
                self.handle(key, now)

    def handle(self, key: Key, now: float) -> None:
        if key.ctrl and key.name == "c" and key.event == PRESS:
            # Under the kitty protocol Ctrl-C arrives as a key, not as the interrupt it means.
            os.kill(os.getpid(), signal.SIGINT)
            return
        if self.repeats.is_repeat(key, now):
            return
        if key.name in MOVES:
            if self.block.move(key.name):
                self._say_block()
            return
        pad = self.block.pad(key.name)
        if pad is None:
            return
        from liveengine.commands import make_command
        from liveengine.errors import LiveEngineError

        try:
            if self.engine.submit(make_command("/pad", [pad[0], pad[1], ACCENT if key.shift else VELOCITY])):
                self.hits += 1
        except LiveEngineError as exc:
            self.say(f"liveengine: {exc}")

    def _write(self, data: bytes) -> None:
        """To the terminal itself (standard output may be a pipe or a file)."""
        try:
            os.write(self.fd, data)
        except OSError:
            pass

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=1.0)
        if self._saved is not None:
            import termios

            self._write(KITTY_OFF)
            termios.tcsetattr(self.fd, termios.TCSADRAIN, self._saved)
            self._saved = None
