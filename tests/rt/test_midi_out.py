"""The MIDI-out FIFO with its SysEx byte ring, producer to server queue, without JACK: a sink stands in for the
backend's JACK MIDI buffers (the JACK tests in tests/jack/test_server_midi.py and test_midi_restart.py run the real one)."""

from __future__ import annotations

import pytest

from liveengine.control.midi.out import ASAP, ServerMidiFifo
from liveengine.errors import LiveEngineError
from liveengine.rt.midi_out import MidiOutQueue
from liveengine.server.layout import MAX_SYSEX_OUT, Layout, SharedState

BLOCK = 128


class Sink:
    """What the JACK backend does with each message, kept: (port, frame, bytes). `room` messages fit one port's
    buffer in a cycle (JACK's buffers are per port and per cycle)."""

    def __init__(self, room: int = 1000) -> None:
        self.got: list[tuple[int, int, bytes]] = []
        self.room = room
        self.left: dict[int, int] = {}
        self.start = 0
        self.dropped = False  # JACK began its next cycle during this one (a late callback)
        self.unconnected: set[int] = set()  # ports with no connection in this cycle's graph

    def cycle_dropped(self):
        return self.dropped

    def connections(self, port):
        return 0 if port in self.unconnected else 1

    def cycle(self, start: int) -> None:
        self.start, self.left = start, {}

    def write_midi(self, port, offset, size, status, data1, data2):
        return self._keep(port, offset, bytes([status, data1, data2][:size]))

    def write_sysex(self, port, offset, ring, at, size):
        head = min(size, len(ring) - at)
        return self._keep(port, offset, bytes(ring[at : at + head]) + bytes(ring[: size - head]))

    def _keep(self, port, offset, data):
        if self.left.get(port, self.room) <= 0:
            return False
        self.left[port] = self.left.get(port, self.room) - 1
        self.got.append((port, self.start + offset, data))
        return True


def shared(ring: int = 1024) -> SharedState:
    return SharedState.create(Layout(fifo_capacity=4, slots=1, slot_frames=256, record_frames=256, timing_history=16,
                                     midi_out_capacity=64, midi_out_ring_bytes=ring))


def run(queue: MidiOutQueue, sink: Sink, blocks: int, first: int = 0) -> None:
    for block in range(first, first + blocks):
        sink.cycle(block * BLOCK)
        queue.write_block(block * BLOCK, BLOCK, sink)


def sysex(n: int, seed: int) -> bytes:
    return bytes([0xF0, *((seed + i) % 128 for i in range(n - 2)), 0xF7])


def test_sysex_and_short_messages_come_out_whole_in_frame_then_queued_order_across_the_ring_end():
    state = shared(ring=1024)
    producer, queue, sink = ServerMidiFifo(state), MidiOutQueue(state), Sink()
    long_a, long_b, long_c = sysex(700, 1), sysex(500, 2), sysex(MAX_SYSEX_OUT, 3)
    assert producer.put_bytes(ASAP, 1, long_a)
    assert producer.put_bytes(ASAP, 1, [0x90, 11, 5])  # after the SysEx queued before it, at the same frame
    assert producer.put(300, 0, 0x90, 36, 100)  # a groove note inside the third block
    run(queue, sink, 1)
    assert sink.got == [(1, 0, long_a), (1, 0, bytes([0x90, 11, 5]))]
    # 700 bytes were handed back: the next two wrap around the 1024-byte ring's end, and still come out whole.
    assert state.midi_out_bytes_read.load() == 700
    assert producer.put_bytes(ASAP, 2, long_b)
    run(queue, sink, 1, first=1)
    assert producer.put_bytes(3 * BLOCK + 5, 2, long_c)  # waits in the server's table until its frame
    run(queue, sink, 3, first=2)
    assert sink.got[2:] == [(2, BLOCK, long_b), (0, 300, bytes([0x90, 36, 100])), (2, 3 * BLOCK + 5, long_c)]
    c = state.counter
    assert (c("midi_out_written"), c("midi_out_sysex"), c("midi_out_late"), c("midi_out_full")) == (5, 3, 0, 0)
    assert state.midi_out_bytes_read.load() == producer.ring_written == 700 + 500 + MAX_SYSEX_OUT


def test_a_sysex_longer_than_the_bound_or_malformed_is_refused_with_one_sentence_and_counted():
    state = shared()
    producer = ServerMidiFifo(state)
    with pytest.raises(LiveEngineError) as refused:
        producer.put_bytes(ASAP, 1, sysex(MAX_SYSEX_OUT + 1, 0))
    assert refused.value.message == (f"a SysEx of {MAX_SYSEX_OUT + 1} bytes is longer than the {MAX_SYSEX_OUT} bytes the audio "
                                     "server's MIDI output takes; it was not sent.")
    with pytest.raises(LiveEngineError, match="not one whole SysEx"):
        producer.put_bytes(ASAP, 1, [0xF0, 1, 0x90, 0xF7])  # a status byte inside
    with pytest.raises(LiveEngineError, match="its status byte 90 takes 3"):
        producer.put_bytes(ASAP, 1, [0x90, 60])
    assert producer.refused == 3 and producer.fifo.written == 0 and producer.ring_written == 0  # nothing queued


def test_a_full_ring_drops_and_counts_and_a_replacement_server_never_reuses_bytes_still_queued():
    state = shared(ring=1024)
    producer, queue, sink = ServerMidiFifo(state), MidiOutQueue(state), Sink()
    first = sysex(600, 4)
    assert producer.put_bytes(10 * BLOCK, 1, first)  # for a later cycle: drained into the server's table, held
    run(queue, sink, 1)
    assert queue.pending and state.midi_out_bytes_read.load() == 0  # its bytes are still needed
    assert not producer.put_bytes(ASAP, 1, sysex(600, 5)) and producer.dropped == 1  # no room: dropped, counted
    # The server dies holding it (its table is lost); the next one starts from the word and drains what follows.
    queue = MidiOutQueue(state)
    assert producer.put_bytes(ASAP, 1, sysex(300, 6))
    run(queue, sink, 1, first=11)
    assert sink.got == [(1, 11 * BLOCK, sysex(300, 6))] and state.midi_out_bytes_read.load() == 900
    # A message not even an empty port buffer takes is lost and counted (the LED thread then draws everything again).
    sink.room = 0
    assert producer.put_bytes(ASAP, 1, sysex(100, 7))
    run(queue, sink, 1, first=12)
    assert state.counter("midi_out_full") == 1 and state.midi_out_bytes_read.load() == 1000


def test_what_a_full_port_buffer_cannot_take_waits_for_the_next_cycle_in_order_and_other_ports_go_on():
    state = shared(ring=1024)
    producer, queue, sink = ServerMidiFifo(state), MidiOutQueue(state), Sink(room=2)
    a, b, c = sysex(200, 1), sysex(200, 2), sysex(200, 3)
    for message in (a, b, c):
        assert producer.put_bytes(ASAP, 1, message)
    assert producer.put_bytes(ASAP, 0, [0x90, 36, 100])
    run(queue, sink, 1)
    assert sink.got == [(1, 0, a), (1, 0, b), (0, 0, bytes([0x90, 36, 100]))]
    assert state.midi_out_bytes_read.load() == 400  # c's bytes are still needed
    run(queue, sink, 1, first=1)
    assert sink.got[3:] == [(1, BLOCK, c)] and state.midi_out_bytes_read.load() == 600
    c_ = state.counter
    assert (c_("midi_out_written"), c_("midi_out_waited"), c_("midi_out_full"), c_("midi_out_late")) == (4, 1, 0, 0)


def test_what_jack_delivers_to_nobody_is_counted_a_late_cycle_on_every_port_an_unconnected_led_output_alone():
    # A stand-in for JACK's side: a real late cycle or a connection not yet in JACK's graph cannot be made on cue
    # (tests/jack/test_midi_restart.py meets both by chance on a busy machine, and needs the redraw this count starts).
    state = shared(ring=1024)
    producer, queue, sink = ServerMidiFifo(state), MidiOutQueue(state), Sink()
    unheard = lambda: state.counter("midi_out_unheard")  # noqa: E731
    assert producer.put_bytes(ASAP, 1, sysex(20, 1)) and producer.put(ASAP, 0, 0x90, 36, 100)
    run(queue, sink, 1)
    assert len(sink.got) == 2 and unheard() == 0  # connected, in time: heard
    sink.dropped = True  # JACK moved on before the callback ended: the LED's and the note are both lost
    assert producer.put_bytes(ASAP, 1, sysex(20, 2)) and producer.put_bytes(ASAP, 2, [0x90, 11, 5]) and producer.put(ASAP, 0, 0x80, 36, 0)
    run(queue, sink, 1, first=1)
    assert len(sink.got) == 5 and unheard() == 3
    sink.dropped, sink.unconnected = False, {0, 2}  # no connection: leds_2 counts (a patch bay not in JACK's graph yet), a note output does not
    assert producer.put_bytes(ASAP, 2, sysex(9, 3)) and producer.put_bytes(ASAP, 2, sysex(9, 4)) and producer.put(ASAP, 0, 0x90, 40, 1)
    assert producer.put_bytes(ASAP, 1, sysex(9, 5))
    run(queue, sink, 1, first=2)
    assert len(sink.got) == 9 and unheard() == 5
    run(queue, sink, 1, first=3)  # a cycle that writes nothing counts nothing
    assert unheard() == 5 and state.counter("midi_out_written") == 9
