"""Ableton Link as the groove's tempo source (the optional extra: pip install 'liveengine[link]').

LinkPython-extern wraps Ableton's Link library, which is GPL-2+ (or a proprietary licence from
Ableton): liveengine never imports it unless `link` is chosen, and it is never a required
dependency. Link's session gives, at any host time, the beat on a timeline all peers share, with a
quantum of one bar (4 beats) so bar lines agree. Link's host clock is not perf_counter's (on Linux
it reads CLOCK_MONOTONIC_RAW; seen 0.27 s apart), so each read pairs the two clocks, and the engine's
one clock (server/clock.py) turns the host time into a frame.

A read's frame comes from the clock's last callback, and a callback only ever starts late (see
server/clock.py): a late one puts the frame early. So the map's beat 0 is the latest of the last
PHASE_READS reads at one tempo (the least late), and the previous map is returned while that stays
within REANCHOR_FRAMES of it, so the sequencer re-anchors only on a change.

Thread: `beat_map` from the groove thread (every 5 ms).
"""

from __future__ import annotations

import time
from typing import Callable

from liveengine.groove.tempo import BEATS_PER_BAR, BeatMap, TempoSource

REANCHOR_FRAMES = 4.0  # under 0.1 ms at 48 kHz: closer than this, the map already followed is kept
PHASE_READS = 16  # 80 ms of the groove thread's reads: short enough that a device clock's drift does not show


class LinkTempo(TempoSource):
    name = "link"

    def __init__(self, samplerate: int, frame_at: Callable[[float], int], bpm: float,
                 now: Callable[[], float] = time.perf_counter) -> None:
        import link

        self.samplerate = samplerate
        self.frame_at = frame_at
        self.now = now
        self.link = link.Link(float(bpm))
        self.link.enabled = True
        self._map: BeatMap | None = None
        self._zeros: list[float] = []  # frames of beat 0 from the recent reads
        self._tempo = 0.0
        self.updates = 0

    def _host_time(self) -> tuple[float, float]:
        """(Link's clock in seconds, perf_counter's) at one moment: the pair read closest together of three."""
        best = None
        for _ in range(3):
            before = self.now()
            link_time = self.link.clock().micros() / 1e6
            after = self.now()
            if best is None or after - before < best[2]:
                best = (link_time, (before + after) / 2, after - before)
        return best[0], best[1]

    def beat_map(self) -> BeatMap | None:
        state = self.link.captureAppSessionState()
        link_time, host = self._host_time()
        beat = state.beatAtTime(int(link_time * 1e6), BEATS_PER_BAR)
        bpm = state.tempo()
        read = BeatMap(float(self.frame_at(host)), beat, bpm, self.samplerate, True)
        if bpm != self._tempo:
            self._zeros, self._tempo = [], bpm
        self._zeros = self._zeros[-(PHASE_READS - 1):] + [read.frame_of_beat(0.0)]
        fresh = BeatMap(max(self._zeros) + beat * read.frames_per_beat, beat, bpm, self.samplerate, True)
        old = self._map
        if old is None or old.bpm != fresh.bpm or abs(old.frame_of_beat(fresh.beat) - fresh.frame) > REANCHOR_FRAMES:
            self._map = fresh
            self.updates += 1
        return self._map

    def peers(self) -> int:
        return self.link.numPeers()

    def status(self) -> dict:
        return {"peers": self.peers(), "updates": self.updates}

    def close(self) -> None:
        self.link.enabled = False
