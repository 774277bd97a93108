"""MIDI out on the audio thread: the control process's MIDI-out FIFO, written at each message's frame.

The control process queues short messages (frame, port, up to 3 bytes) in the `midi_out` FIFO
(server/layout.py MIDI_OUT_RECORD) as it queues commands; in every JACK cycle the server's
callback moves them into a fixed table of PENDING messages and writes those due in the cycle
into the JACK MIDI output buffer of their port, at their offset, in frame order (JACK wants them
so). A message for a later cycle waits in the table; one whose frame has passed goes out at the
cycle's first frame and is counted late; a full table leaves the rest in the FIFO for the next
cycle (counted, never lost while the FIFO holds them).

Contract (audio thread): no allocation beyond Python's own small ints and tuples, no lock, no
wait; bounded work (at most PENDING messages a cycle).
"""

from __future__ import annotations

from typing import Callable

from liveengine.server.fifo import FifoReader
from liveengine.server.layout import SharedState

PENDING = 256  # messages waiting for their cycle; the groove queues about 0.1 s ahead
_FRAME, _PORT, _SIZE, _STATUS, _DATA1, _DATA2 = range(6)


class MidiOutQueue:
    def __init__(self, state: SharedState) -> None:
        self.fifo = FifoReader(state, "midi_out")
        self._counters = state.counters
        index = state.counter_index
        self._i_written, self._i_late, self._i_full = index["midi_out_written"], index["midi_out_late"], index["midi_out_full"]
        self.pending: list = []  # records (tuples); at most PENDING
        self._due: list = []

    def write_block(self, start: int, frames: int, write: Callable[[int, int, int, int, int, int], bool]) -> None:
        """Write every message due in [start, start + frames): write(port, offset, size, status, data1, data2) -> written?"""
        room = PENDING - len(self.pending)
        if room > 0:
            self.fifo.drain(self.pending, room)
        elif self.fifo.waiting() > 0:  # the table is full and more wait
            self._counters[self._i_full] += 1
        if not self.pending:
            return
        end = start + frames
        due = self._due
        keep = 0
        pending = self.pending
        for record in pending:
            if record[_FRAME] < end:
                due.append(record)
            else:
                pending[keep] = record
                keep += 1
        del pending[keep:]
        if not due:
            return
        if len(due) > 1:
            due.sort()  # by frame (then port, bytes): JACK takes a port's events in time order
        counters = self._counters
        for record in due:
            offset = record[_FRAME] - start
            if offset < 0:
                offset = 0
                counters[self._i_late] += 1
            if write(record[_PORT], offset, record[_SIZE], record[_STATUS], record[_DATA1], record[_DATA2]):
                counters[self._i_written] += 1
            else:
                counters[self._i_full] += 1  # the port's buffer for this cycle is full
        due.clear()
