"""What the engine tells the inputs that can show it: one table, one source of messages.

The OSC server sends these to its subscribers and the web panel to its browsers; both
read them from a `FeedbackSource`, so a pad lights the same on a Max device, a Pd
panel and a phone. Messages are `(address, *args)` tuples; each input encodes them its
own way (OSC datagrams, JSON arrays).
"""

from __future__ import annotations

import time

import numpy as np

from liveengine.handlers import status_values

TICK = 0.03  # playing pads and new descriptions: about one video frame late at most
STATUS_SECONDS = 1.0  # /status
LEVEL_SECONDS = 0.1  # /level

# What a subscriber receives (docs/osc.md is generated from this too).
FEEDBACK = {
    "/pad/description": "row col class probability loudness_db brightness red green blue: a pad's sound, sent as each pad renders (class '' without a classifier)",
    "/pad/playing": "row col 1|0: a pad started or stopped sounding",
    "/progress": "done total: pads rendered for the current setting",
    "/level": "peak: the output's peak level (linear), ten times a second",
    "/status": "the /status reply (voices ... memory_mb), once a second",
    "/report": "text: what the engine reports (patch loaded, render failed, device lost, ...)",
    "/error": "address reason: a rejected message",
}


class FeedbackSource:
    """The feedback that changed since the last `poll()`, for one stream of messages (one control thread).

    A new source's first poll is the whole state: every rendered pad's description, the pads
    playing, the render progress, the level and /status (reports made before it was made are
    not repeated). `resend_descriptions()` makes the next poll describe every pad again (a new
    OSC subscriber).
    """

    def __init__(self, engine) -> None:
        self.engine = engine
        self._described: dict[int, object] = {}  # pad -> the buffer whose description was sent last
        self._playing: frozenset[int] = frozenset()
        self._starts = np.zeros(0, np.int64)
        self._progress: tuple | None = None
        self._next_status = self._next_level = 0.0
        self._seen_reports = engine.report_count

    def resend_descriptions(self) -> None:
        self._described.clear()

    def poll(self, now: float | None = None) -> list[tuple]:
        """(address, *args) for what changed: descriptions of pads rendered since, pads that started or
        stopped, progress; the level every LEVEL_SECONDS, /status every STATUS_SECONDS; new reports."""
        engine = self.engine
        now = time.monotonic() if now is None else now
        messages: list[tuple] = []
        rows, cols = engine.grid_shape()
        buffers = engine.instrument.cache.buffers[: rows * cols]
        for pad, buffer in enumerate(buffers):
            if buffer is not None and self._described.get(pad) is not buffer and buffer.description is not None:
                self._described[pad] = buffer
                d = buffer.description
                messages.append(("/pad/description", pad // cols, pad % cols, d.drum_class or "", float(d.probability),
                                 float(d.loudness_db), float(d.brightness), *d.color))
        # Sounding now, or started since the last poll: a sound shorter than a tick is lit for one tick.
        starts = engine.pad_starts()
        started = np.flatnonzero(starts > self._starts) if len(starts) == len(self._starts) else ()
        self._starts = starts
        playing = engine.playing_pads() | frozenset(int(p) for p in started)
        for pad in sorted(playing ^ self._playing):
            if pad < rows * cols:
                messages.append(("/pad/playing", pad // cols, pad % cols, int(pad in playing)))
        self._playing = playing
        progress = engine.render_progress()
        if progress != self._progress:
            self._progress = progress
            messages.append(("/progress", *progress))
        if now >= self._next_level:
            self._next_level = now + LEVEL_SECONDS
            messages.append(("/level", engine.shared.float("peak")))
        if now >= self._next_status:
            self._next_status = now + STATUS_SECONDS
            messages.append(("/status", *status_values(engine)))
        count = engine.report_count
        if count > self._seen_reports:
            for report in list(engine.reports)[-min(count - self._seen_reports, len(engine.reports)):]:
                messages.append(("/report", report))
        self._seen_reports = count
        return messages
