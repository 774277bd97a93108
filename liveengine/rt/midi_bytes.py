"""Raw MIDI bytes to messages, on the audio thread: the parser the audio server runs on JACK MIDI input.

Why our own: rtmidi's JACK input latches an unterminated SysEx in C and then
swallows every later message while `ignore_types(sysex=True)` discards it, so one
stray `F0` deafens the instrument. The MIDI 1.0 rules, applied byte by byte:

- a status byte (80-EF, F1-F6) ends a SysEx that lacks its F7 (counted), and
  starts a message; channel messages set *running status*, so later data bytes
  without a status repeat it; system common messages clear it;
- real-time bytes (F8-FF: clock, start, stop, ...) may come anywhere, even inside
  another message or a SysEx, and pass through at once without disturbing either;
- a SysEx is skipped (its bytes counted), however long; past `max_sysex` bytes it
  is also counted as oversize;
- a data byte with no status to belong to, an F7 outside a SysEx and the
  undefined F4/F5 are stray: counted, never guessed at.

No allocation per byte or message: state is a few ints, and a complete message
goes to `emit(offset, status, data1, data2)`. Bounded work per event: an event longer
than LONG_EVENT bytes is not read byte by byte on the audio thread (a 32 KB SysEx took
milliseconds in this loop): a whole SysEx (F0 ... F7) or a piece of one in progress is
counted as such, anything else that long is counted stray, unread.
"""

from __future__ import annotations

from typing import Callable


LONG_EVENT = 512  # bytes: longer events are judged by their ends, not read byte by byte
_SYSTEM_COMMON_DATA = {0xF1: 1, 0xF2: 2, 0xF3: 1}  # F6 has none; F4 and F5 are undefined


def _data_bytes(status: int) -> int:
    kind = status & 0xF0
    if kind in (0xC0, 0xD0):
        return 1
    if kind != 0xF0:
        return 2
    return _SYSTEM_COMMON_DATA.get(status, 0)


class MidiByteParser:
    def __init__(self, max_sysex: int = 1 << 16) -> None:
        self.max_sysex = max_sysex
        self.status = 0  # running status, or the system common message being read; 0: none
        self.need = 0
        self.have = 0
        self.data1 = 0
        self.in_sysex = False
        self.sysex_bytes = 0
        # Counters (the server publishes them): what was not a message.
        self.messages = 0
        self.sysex = 0  # complete SysEx messages skipped
        self.sysex_unterminated = 0  # ended by a status byte instead of F7
        self.sysex_oversize = 0
        self.stray = 0

    def feed(self, data, offset: int, emit: Callable[[int, int, int, int], None]) -> None:
        """Parse `data` (bytes or a buffer of them) that arrived at frame `offset` of the block."""
        size = len(data)
        if size > LONG_EVENT:
            self._long(data, size)
            return
        for byte in data:
            if byte >= 0xF8:  # real-time: anywhere, at once
                self.messages += 1
                emit(offset, byte, 0, 0)
            elif byte >= 0x80:
                self._status(byte, offset, emit)
            elif self.in_sysex:
                self.sysex_bytes += 1
            elif self.status == 0:
                self.stray += 1
            elif self.have == 0 and self.need == 2:
                self.data1 = byte
                self.have = 1
            else:
                status = self.status
                first, second = (self.data1, byte) if self.need == 2 else (byte, 0)
                self.have = 0
                if status >= 0xF0:
                    self.status = 0  # system common: no running status after it
                self.messages += 1
                emit(offset, status, first, second)

    def _long(self, data, size: int) -> None:
        first, last = data[0], data[size - 1]
        if first == 0xF0 or self.in_sysex:
            body = size - (first == 0xF0) - (last == 0xF7)
            if first == 0xF0:
                if self.in_sysex:
                    self.sysex_unterminated += 1  # the one in progress never got its F7
                self.in_sysex, self.sysex_bytes, self.status, self.have = True, 0, 0, 0
            self.sysex_bytes += body
            if last == 0xF7:
                self._status(0xF7, 0, None)  # ends it (counts it, oversize too)
            return
        self.stray += size
        self.status, self.have = 0, 0

    def _status(self, byte: int, offset: int, emit) -> None:
        if self.in_sysex:
            self.in_sysex = False
            if self.sysex_bytes > self.max_sysex:
                self.sysex_oversize += 1
            if byte == 0xF7:
                self.sysex += 1
                return
            self.sysex_unterminated += 1
        if byte == 0xF0:
            self.in_sysex, self.sysex_bytes, self.status, self.have = True, 0, 0, 0
            return
        if byte in (0xF7, 0xF4, 0xF5):
            self.stray += 1
            self.status, self.have = 0, 0
            return
        if self.have:  # a message cut short by a new status: its first data byte is lost
            self.stray += 1
        need = _data_bytes(byte)
        if need == 0:  # F6, tune request: complete in itself
            self.status, self.have = 0, 0
            self.messages += 1
            emit(offset, byte, 0, 0)
            return
        self.status, self.need, self.have = byte, need, 0
