"""MIDI out on the audio thread: the control process's MIDI-out FIFO, written at each message's frame.

The control process queues messages (frame, port, bytes) in the `midi_out` FIFO (server/layout.py
MIDI_OUT_RECORD) as it queues commands: a short message (1 to 3 bytes: a note, a note-on LED colour)
in its record; a longer one (a SysEx: LED colours, a controller's mode switch, at most
MAX_SYSEX_OUT bytes) in the `midi_out_ring` byte ring, its record saying where. In every JACK cycle
the server's callback moves records into a fixed table of PENDING messages and writes those due in
the cycle into the JACK MIDI output buffer of their port, at their offset, in frame order and, within
a frame, in the order they were queued (JACK wants a port's events in time order; a controller wants
its mode switch before the colours). A message for a later cycle waits in the table; one whose frame
has passed goes out at the cycle's first frame and is counted late (frame -1 asks for the next cycle
and is not late). Nothing is lost for want of room in one cycle: a full table leaves the rest in the
FIFO, and once a port's buffer for this cycle is full, that port's remaining messages wait in the
table for the next cycle, in order (both counted as `midi_out_waited`; a controller's whole LED state
drawn at once can be more than one cycle's buffer). Only a message that does not fit even an empty
buffer, or names a port the server does not have, is lost (counted as `midi_out_full`).

Two losses happen after a message is written, inside JACK, and are counted as `midi_out_unheard` (the
LED thread then draws every controller's LEDs again, as after `midi_out_full`):
- JACK began its next cycle before this callback ended (a late callback, an xrun). In JACK's default
  asynchronous mode it runs the callback again at once for the new cycle, which clears the port buffers,
  and a reader that ran meanwhile saw the buffer half written (a stand-in Launchpad got its white pad's
  bytes twice and never its colour back). bench/jack_midi_loss.py: every message written in a callback
  made 4 ms late was lost (30 of 30), and JACK's last_frame_time had moved on in exactly those
  callbacks (sink.cycle_dropped); none was lost with jackd -S. Every port, notes too.
- An LED output with no connection in this cycle's graph: a connection made a moment ago takes effect
  only when JACK switches its graph at a cycle's start (the same bench: the first message written after
  jack_connect returned never arrived in 4 of 20 tries at load 5, 0 of 100 at load 1; a Launchpad's
  programmer-mode switch written right after the patch bay connected its LED output was never
  received). A note output nobody connected is the performer's choice, not a loss.

The byte ring is handed back as the server is done with it: `midi_out_bytes_read` is the start of the
oldest long message still waiting in the table, or, with none waiting, the end of the newest one
drained. A replacement server starts from that word, so what its predecessor held is never reused
while still needed.

Contract (audio thread): no allocation beyond Python's own small ints, tuples and numpy views, no
lock, no wait; bounded work (at most PENDING messages a cycle, each at most MAX_SYSEX_OUT bytes).
"""

from __future__ import annotations

from liveengine.audio.spec import LED_PORT, MIDI_OUTPUTS
from liveengine.server.fifo import FifoReader
from liveengine.server.layout import SharedState

PENDING = 256  # messages waiting for their cycle; the groove queues about 0.1 s ahead
_FRAME, _SEQ, _AT, _PORT, _SIZE, _STATUS, _DATA1, _DATA2 = range(8)


class MidiOutQueue:
    def __init__(self, state: SharedState) -> None:
        self.fifo = FifoReader(state, "midi_out")
        self.ring = state.midi_out_ring
        self._ring_size = len(self.ring)
        self._bytes_read = state.midi_out_bytes_read
        self._released = self._bytes_read.load()  # a replacement server continues where the last one stopped
        self._drained_end = self._released
        self._counters = state.counters
        index = state.counter_index
        self._i_written, self._i_late, self._i_full = index["midi_out_written"], index["midi_out_late"], index["midi_out_full"]
        self._i_sysex, self._i_waited = index["midi_out_sysex"], index["midi_out_waited"]
        self._i_unheard = index["midi_out_unheard"]
        self._per_port = [0] * MIDI_OUTPUTS  # messages written to each port this cycle (only real ports take one)
        self.pending: list = []  # records (tuples); at most PENDING
        self._due: list = []

    def write_block(self, start: int, frames: int, sink) -> None:
        """Write every message due in [start, start + frames) through `sink` (the backend):
        sink.write_midi(port, offset, size, status, data1, data2) -> written? for short messages and
        sink.write_sysex(port, offset, ring, at, size) -> written? for those whose bytes are in the ring;
        then, if anything was written, sink.cycle_dropped() -> whether JACK has begun its next cycle (what was
        written is never delivered) and sink.connections(port) -> the port's connections in this cycle."""
        pending = self.pending
        room = PENDING - len(pending)
        if room > 0:
            before = len(pending)
            if self.fifo.drain(pending, room):
                for i in range(before, len(pending)):
                    record = pending[i]
                    if record[_SIZE] > 3:
                        self._drained_end = record[_AT] + record[_SIZE]
        elif self.fifo.waiting() > 0:  # the table is full and more wait in the FIFO
            self._counters[self._i_waited] += 1
        if not pending:
            self._release(self._drained_end)
            return
        end = start + frames
        due = self._due
        keep = 0
        oldest = -1  # the ring position of the oldest long message that stays in the table
        for record in pending:
            if record[_FRAME] < end:
                due.append(record)
            else:
                pending[keep] = record
                keep += 1
                if record[_SIZE] > 3 and (oldest < 0 or record[_AT] < oldest):
                    oldest = record[_AT]
        del pending[keep:]
        if due:
            if len(due) > 1:
                due.sort()  # by frame, then the order queued (seq is unique)
            counters = self._counters
            wrote = blocked = 0  # bit p: port p was written this cycle / its buffer is full for this cycle
            for record in due:
                port = record[_PORT]
                bit = 1 << port
                size = record[_SIZE]
                if not blocked & bit:
                    frame = record[_FRAME]
                    offset = frame - start
                    if offset < 0:
                        offset = 0
                    if size > 3:
                        written = sink.write_sysex(port, offset, self.ring, record[_AT] % self._ring_size, size)
                    else:
                        written = sink.write_midi(port, offset, size, record[_STATUS], record[_DATA1], record[_DATA2])
                    if written:
                        wrote |= bit
                        self._per_port[port] += 1
                        counters[self._i_written] += 1
                        if size > 3:
                            counters[self._i_sysex] += 1
                        if 0 <= frame < start:
                            counters[self._i_late] += 1
                        continue
                    if not wrote & bit:  # not even an empty buffer takes it (or no such port): lost
                        counters[self._i_full] += 1
                        continue
                    blocked |= bit
                pending.append(record)  # the port's buffer is full this cycle: it and what follows wait, in order
                counters[self._i_waited] += 1
                if size > 3 and (oldest < 0 or record[_AT] < oldest):
                    oldest = record[_AT]
            due.clear()
            if wrote:
                self._count_unheard(wrote, sink)
        self._release(oldest if oldest >= 0 else self._drained_end)

    def _count_unheard(self, wrote: int, sink) -> None:
        """After this cycle's writes: count what JACK will deliver to nobody (see the module's docstring)."""
        per_port = self._per_port
        dropped = sink.cycle_dropped()
        unheard = 0
        port = 0
        while wrote:
            if wrote & 1:
                if dropped or (port >= LED_PORT and sink.connections(port) == 0):
                    unheard += per_port[port]
                per_port[port] = 0
            wrote >>= 1
            port += 1
        if unheard:
            self._counters[self._i_unheard] += unheard

    def _release(self, position: int) -> None:
        if position > self._released:
            self._released = position
            self._bytes_read.store(position)
