"""Pad LEDs: the grid's colours, the playing pads, render progress; mode switches in and out.

On the groove page (`groove_colours`) the pads show the groove page instead: the playing groove
green, the others dim blue, the step position moving along the top row.

What a pad shows (`pad_colours`): the colour of its description (from its drum class or
brightness, made by the renderer) once rendered; dark while never rendered; white while it
sounds. After a mapping or parameter change the engine's render progress (done of total)
is shown by dimming the pads from index `done` on, so the lit part of the grid grows as the
pads render. Pads past the grid's edge are dark.

How it is sent is the profile's `[leds] method`, one encoder each, following the vendor
documents cited in the profile: `novation_rgb` (Launchpad LED lighting SysEx, type 3),
`apc_rgb` (APC mini mk2 SysEx 24h), `push2_palette` (palette entries programmed once,
then note-on colour indices), `note_palette` (note-on velocity = nearest entry of the
profile's `palette`), `none`. Only changed pads are sent; every frame is bounded by the
number of pads.
"""

from __future__ import annotations

from liveengine.control.midi.profiles import Profile

OFF = (0, 0, 0)
PLAYING = (255, 255, 255)
STALE_LEVEL = 0.25  # pads still waiting for their re-render glow at a quarter
GROOVE_PAD = (0, 40, 120)  # a groove pad not playing
GROOVE_PLAYING = (0, 255, 60)  # the groove playing now
GROOVE_STEP = (255, 160, 0)  # the step position: one pad of the top row, moving along the bar
NOVATION_MAX_PER_MESSAGE = 81  # the lighting SysEx takes up to 81 colour specs


def pad_colours(profile: Profile, shape: tuple[int, int], descriptions, playing, progress=(0, 0)) -> dict[int, tuple[int, int, int]]:
    """LED note -> (r, g, b) 0..255 for every pad of the profile's layout.

    `progress` is the engine's (done, total) render progress: while a re-render runs, pads
    from index `done` on are dimmed to STALE_LEVEL, so the lit part of the grid grows with it.
    """
    rows, cols = shape
    done, total = progress
    stale_from = done if done < total else rows * cols
    out = {}
    for (r, c), note in profile.pad_to_note.items():
        if r >= rows or c >= cols:
            out[note] = OFF
            continue
        index = r * cols + c
        description = descriptions[index] if index < len(descriptions) else None
        if index in playing:
            out[note] = PLAYING
        elif description is None:
            out[note] = OFF
        else:
            level = STALE_LEVEL if index >= stale_from else 1.0
            out[note] = tuple(max(0, min(255, int(v * level))) for v in description.color)
    return out


def groove_colours(profile: Profile, shape: tuple[int, int], playing: tuple[int, int] | None, step: int | None) -> dict[int, tuple[int, int, int]]:
    """LED note -> (r, g, b) on the groove page: the groove pads dim blue, the playing one green, and the
    step position in the bar (16 steps over the layout's columns) lit along the layout's top row, above
    the groove page (over it when the page fills the grid)."""
    rows, cols = shape
    top = profile.shape[0] - 1
    width = profile.shape[1]
    step_col = None if step is None else (step % 16) * width // 16
    out = {}
    for (r, c), note in profile.pad_to_note.items():
        if r == top and c == step_col:
            out[note] = GROOVE_STEP
        elif playing is not None and (r, c) == tuple(playing):
            out[note] = GROOVE_PLAYING
        elif r < rows and c < cols:
            out[note] = GROOVE_PAD
        else:
            out[note] = OFF
    return out


class LedEncoder:
    """Turns colour changes into the profile's MIDI messages (lists of bytes)."""

    def __init__(self, profile: Profile) -> None:
        self.profile = profile
        self.leds = profile.leds
        self.method = self.leds.get("method", "none")
        self.header = list(self.leds.get("sysex_header", []))

    @property
    def enabled(self) -> bool:
        return self.method != "none"

    def setup(self) -> list[list[int]]:
        """Messages sent when the device is (re)connected: mode switch, palette."""
        messages = self.profile.messages("mode_on")
        if self.method == "push2_palette":
            levels, base = self._cube()
            for qr in range(levels):
                for qg in range(levels):
                    for qb in range(levels):
                        index = base + (qr * levels + qg) * levels + qb
                        rgb = [round(q * 255 / (levels - 1)) for q in (qr, qg, qb)]
                        white = max(rgb)
                        body = [0x03, index]
                        for v in (*rgb, white):
                            body += [v & 0x7F, v >> 7]
                        messages.append([0xF0, *self.header, *body, 0xF7])
            messages.append([0xF0, *self.header, 0x05, 0xF7])  # reapply the palette
        return messages

    def teardown(self) -> list[list[int]]:
        """Messages sent at exit: pads dark, then the device back in its own mode."""
        off = self.frame({note: OFF for note in self.profile.pad_to_note.values()}) if self.enabled else []
        return off + self.profile.messages("mode_off")

    def frame(self, changes: dict[int, tuple[int, int, int]]) -> list[list[int]]:
        if not changes or not self.enabled:
            return []
        items = sorted(changes.items())
        if self.method == "novation_rgb":
            out = []
            for start in range(0, len(items), NOVATION_MAX_PER_MESSAGE):
                body = []
                for note, (r, g, b) in items[start : start + NOVATION_MAX_PER_MESSAGE]:
                    body += [0x03, note, r >> 1, g >> 1, b >> 1]
                out.append([0xF0, *self.header, *body, 0xF7])
            return out
        if self.method == "apc_rgb":
            return [[0xF0, *self.header, 0x00, 0x08, note, note, r >> 7, r & 0x7F, g >> 7, g & 0x7F, b >> 7, b & 0x7F, 0xF7]
                    for note, (r, g, b) in items]
        if self.method == "push2_palette":
            return [[0x90, note, self.cube_index(rgb)] for note, rgb in items]
        if self.method == "note_palette":
            channel = int(self.leds.get("channel", 0))
            return [[0x90 | channel, note, self.palette_index(rgb)] for note, rgb in items]
        return []

    def _cube(self) -> tuple[int, int]:
        return int(self.leds.get("levels", 4)), int(self.leds.get("palette_base", 1))

    def cube_index(self, rgb) -> int:
        if tuple(rgb) == OFF:
            return 0
        levels, base = self._cube()
        qr, qg, qb = (round(v * (levels - 1) / 255) for v in rgb)
        return base + (qr * levels + qg) * levels + qb

    def palette_index(self, rgb) -> int:
        palette = self.leds.get("palette", [[0, 0, 0, 0]])
        return min(palette, key=lambda e: sum((a - b) ** 2 for a, b in zip(e[1:], rgb)))[0]
