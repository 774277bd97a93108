"""Raw bytes from rtmidi -> mido messages, bounded and counted.

rtmidi hands over one MIDI event at a time as a list of bytes. On JACK an event
is whatever the sender wrote, so it may hold several messages in running status
(`90 3C 64 3D 65`), stray data bytes, or a SysEx. mido's own parser keeps no
running status across messages, drops stray bytes without a count and gathers a
SysEx without limit, so the splitting is done here, with bounds; mido builds and
checks each complete message.
"""

from __future__ import annotations

from dataclasses import dataclass

import mido

MAX_EVENT_BYTES = 1024  # longer events (big SysEx chunks) are dropped whole, unread


@dataclass
class ParseCounters:
    messages: int = 0
    oversize: int = 0  # events longer than MAX_EVENT_BYTES
    sysex: int = 0  # SysEx events (liveengine reads none)
    realtime: int = 0  # clock, start/stop/continue (handed to the tempo source), active sensing
    stray_bytes: int = 0  # data bytes with no status to belong to
    system_common: int = 0  # song position, MTC quarter frames, tune request, undefined F4/F5/F9/FD


def _data_length(status: int) -> int:
    return 1 if 0xC0 <= status < 0xE0 else 2


SONG_POSITION = 0xF2


class MessageSplitter:
    """Split rtmidi's raw events into channel messages. One per port; not thread-safe (one control thread).

    Real-time bytes and song position are not channel messages: each split leaves them, in order, in
    `system` as (status, data1, data2) for the tempo source (MIDI clock); the caller empties it."""

    def __init__(self, counters: ParseCounters | None = None) -> None:
        self.counters = counters or ParseCounters()
        self._running = 0  # running status carries across events, as on a DIN cable
        self.system: list[tuple[int, int, int]] = []

    def split(self, data) -> list[mido.Message]:
        counters = self.counters
        if len(data) > MAX_EVENT_BYTES:
            counters.oversize += 1
            self._running = 0
            return []
        if data and data[0] == 0xF0:
            counters.sysex += 1
            self._running = 0
            return []
        out = []
        status, need, body = self._running, _data_length(self._running) if self._running else 0, []
        for byte in data:
            if byte >= 0xF8:
                counters.realtime += 1  # realtime bytes may sit anywhere, even inside a message
                if len(self.system) < MAX_EVENT_BYTES:
                    self.system.append((byte, 0, 0))
                continue
            if byte == SONG_POSITION:
                counters.system_common += 1
                status, need, body = byte, 2, []
                continue
            if byte >= 0xF0:
                counters.system_common += 1
                status, body = 0, []
                continue
            if byte >= 0x80:
                if body:
                    counters.stray_bytes += len(body)  # an unfinished message, cut off by a new status
                status, need, body = byte, _data_length(byte), []
                continue
            if not status:
                counters.stray_bytes += 1
                continue
            body.append(byte)
            if len(body) == need:
                if status == SONG_POSITION:  # system common: no running status after it
                    if len(self.system) < MAX_EVENT_BYTES:
                        self.system.append((status, body[0], body[1]))
                    status, body = 0, []
                    continue
                out.append(mido.Message.from_bytes([status, *body]))
                body = []
        if body:
            counters.stray_bytes += len(body)
        self._running = status
        counters.messages += len(out)
        return out
