"""The memory shared between the control process and the audio server: one segment, fixed regions.

Who writes what (every region has exactly one writer):

| region | writer | reader | what |
|---|---|---|---|
| FIFO records, `fifo_write` | control | server | commands for the audio thread (`fifo.py`) |
| `fifo_read` | server | control | how far the server has read |
| slot table (generation, length), envelopes, samples | control | server | the sample pool (`pool.py`) |
| slot refs, pad voices | server | control | which slots and pads voices are playing now |
| counters (the frame among them), floats, clock ring, timings, error text, `blocks` | server | control | status |
| record ring, `rec_written` | server | control | every output block at its frame, for the recorder |
| stream ring, `stream_write` | a streaming producer | server | frames for the stream voice, written ahead (`rt/stream.py`) |
| `stream_read` | server | the producer | how far the stream voice has played |
| `stream_tail` | a streaming producer | server | where the continuation written past `stream_write` ends (what would follow its last frame, for the voice to play through if the next frame is late); never moved back; stored before `stream_write` |
| `stream_seq` | a streaming producer | server | odd while a write is putting frames and a continuation into the ring, even once `stream_write` is stored: the voice copying past `stream_write` (a bridge) checks it before and after, so a write racing its copy is never played torn |
| input ring (`stream_in`), `stream_in_write` | server | a streaming producer | the audio input (JACK input port, PortAudio duplex), every block as it arrives, for timbre transfer |
| `stream_skew` | server | a streaming producer | input written minus stream read at the end of the last block, stored before `stream_in_write`: the ring frame the voice plays with an input frame, so the producer holds its output a fixed lead after its input |
| event FIFO records, `events_write` | server | control | input events the server reads (MIDI in the server's own JACK callback, to come) |
| `events_read` | control | server | how far the control process has read them |
| note table (`note_slots`, `note_pads`, `note_channels`), `note_table_seq`; `slot_onset` | control | server | which pool slot a MIDI note on each input plays, for notes the server starts itself (`control/midi/server_ports.py`) |
| `slot_taken` | server | control | the generation of a variation the server started from the note table: it plays once |
| MIDI-out FIFO records (`midi_out`), `midi_out_write` | control | server | MIDI messages to write at their frames on the server's JACK MIDI outputs (`rt/midi_out.py`) |
| `midi_out_read` | server | control | how far the server has read them |
| MIDI-out byte ring (`midi_out_ring`) | control | server | the bytes of the MIDI-out records longer than 3 bytes (SysEx: controller LEDs), written before their record |
| `midi_out_bytes_read` | server | control | the ring position before which the server needs no byte any more |

Words that publish other data to the other process are atomic (`AtomicWord`);
everything else is plain numpy memory, written before (and read after) the
atomic word that publishes it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import NamedTuple

import numpy as np

from liveengine.audio.spec import MIDI_PORTS
from liveengine.server.shm import Segment

# Command records: one fixed-size record per command (64 bytes).
RECORD = np.dtype([
    ("frame", "<i8"),  # target frame (ASAP: the next block's first frame)
    ("gen", "<i8"),  # the slot's generation when the command was made (stale ones are dropped)
    ("kind", "<i4"),
    ("slot", "<i4"),  # sample-pool slot (START)
    ("gain", "<f4"),
    ("choke", "<i4"),  # choke group, -1 for none
    ("pad", "<i4"),  # pad (START, STOP_PAD) or choke group (CHOKE)
    ("onset", "<i4"),  # START: frames of pre-roll before the transient
    ("value", "<f8"),  # GAIN
    ("check", "<u8"),  # free for the sender (tests put a checksum here)
    ("spare", "<i8"),
])
assert RECORD.itemsize == 64


class Record(NamedTuple):
    """One FIFO record by name, in RECORD's field order. The control side builds these; the audio thread
    reads plain tuples (a structured array's `.item()`) by the same positions, with no allocation."""

    frame: int
    gen: int = 0
    kind: int = -1  # rt/core.py's kinds; -1 is none (ignored)
    slot: int = -1
    gain: float = 0.0
    choke: int = -1
    pad: int = -1
    onset: int = 0
    value: float = 0.0
    check: int = 0
    spare: int = 0


assert Record._fields == RECORD.names

# MIDI-out records: one MIDI message for an output port at an engine frame (32 bytes). Short messages (1 to 3
# bytes: the groove's notes, note-on LED colours) carry their bytes; a longer one (a SysEx: LED colours, a mode
# switch) has its bytes in the `midi_out_ring` at `at`, written before the record that publishes them.
MIDI_OUT_RECORD = np.dtype([
    ("frame", "<i8"),  # engine frame to write it at (a past frame: at the start of the next block, counted late; -1: as soon as possible)
    ("seq", "<i8"),  # the producer's count: messages of one frame go out in the order they were queued
    ("at", "<i8"),  # size > 3: where its bytes start in the byte ring (a position that only grows; the ring index is at % size)
    ("port", "<i2"),  # the server's MIDI output (audio/spec.py: 0 = midi_out_1, LED_PORT + i = leds_{i+1})
    ("size", "<i2"),  # bytes: 1..3 here, up to MAX_SYSEX_OUT in the ring
    ("status", "u1"),
    ("data1", "u1"),
    ("data2", "u1"),
    ("spare", "u1"),
])
MAX_SYSEX_OUT = 1024  # bytes: the longest message the server writes (a Launchpad's 81-pad colour SysEx is 412)
assert MIDI_OUT_RECORD.itemsize == 32

# Atomic words, one per 64-byte line so the two processes never share a line they both write.
# `blocks` is the server's heartbeat and publishes the block it counts: its frame, clock entry, counters.
WORDS = ("fifo_write", "fifo_read", "blocks", "rec_written", "stream_write", "stream_read", "events_write", "events_read",
         "note_table_seq", "midi_out_write", "midi_out_read", "stream_in_write", "midi_out_bytes_read", "stream_skew", "stream_tail",
         "stream_seq")
# Server counters (plain int64 stores; readers may see a block-old value).
COUNTERS = ("frame", "first_block", "xruns", "late_commands", "schedule_full", "callback_errors", "stale_commands", "voices_sounding",
            "voices_fading", "steals", "hard_cuts", "error_seq", "pid", "drained", "started_frame", "limited_blocks",
            "rec_resumed_from",  # a replacement server: the last frame its predecessor recorded (the gap's start)
            "stream_underruns", "stream_fades", "events_dropped",
            "stream_fades_hurried",  # of stream_fades, those in a block entered under half a period after the last (rt/core.py)
            "stream_bridges", "stream_bridges_hurried",  # shortfalls played through on the producer's continuation (rt/stream.py)
            "midi_messages", "midi_stray", "midi_sysex_unterminated", "midi_sysex_oversize",
            "midi_out_written", "midi_out_late", "midi_out_full", "midi_out_sysex", "midi_out_waited",
            "midi_out_unheard",  # written where JACK delivers it to no reader (rt/midi_out.py)
            "callback_fifo")  # the callback thread's SCHED_FIFO priority, 0 if it has none: a stream producer stays below it
FLOATS = ("peak", "level", "gain", "stream_gain")  # stream_gain: the stream voice's gain, 0 while off (a replacement server resumes it)
CLOCK_RING = 64
XRUN_RING = 64  # host times of the server's last xruns (`xruns` counts them all): each can be matched with what else happened
ERROR_BYTES = 480
MAX_PADS = 256  # 16 x 16, the largest grid a patch may ask for


@dataclass(frozen=True)
class Layout:
    """Sizes of every region; both processes compute the same offsets from it."""

    fifo_capacity: int = 4096
    slots: int = 320
    slot_frames: int = 192000
    record_frames: int = 384000
    channels: int = 2
    timing_history: int = 1 << 16
    envelope_hop: int = 256
    stream_frames: int = 1 << 15  # 0.68 s at 48 kHz: a streaming producer's look-ahead
    stream_in_frames: int = 1 << 14  # 0.34 s at 48 kHz of audio input a producer may fall behind by
    events_capacity: int = 1024
    midi_out_capacity: int = 1024
    midi_out_ring_bytes: int = 1 << 15  # the SysEx byte ring: 32 full-size messages, a full redraw of 4 Launchpads 4 times over

    @property
    def envelope_len(self) -> int:
        return -(-self.slot_frames // self.envelope_hop)

    def regions(self) -> dict[str, tuple[int, np.dtype, tuple]]:
        """name -> (offset, dtype, shape), 64-byte aligned, in one fixed order."""
        specs = [("words", np.int64, (len(WORDS) * 8,)),
                 ("counters", np.int64, (len(COUNTERS),)),
                 ("floats", np.float64, (len(FLOATS),)),
                 ("clock_frames", np.int64, (CLOCK_RING,)),
                 ("clock_times", np.float64, (CLOCK_RING,)),
                 ("callback_seconds", np.float64, (self.timing_history,)),
                 ("lateness_seconds", np.float64, (self.timing_history,)),
                 ("xrun_times", np.float64, (XRUN_RING,)),  # time.perf_counter() when the block after each xrun began
                 ("error_text", np.uint8, (ERROR_BYTES,)),
                 ("pad_voices", np.int32, (MAX_PADS,)),
                 ("pad_starts", np.int64, (MAX_PADS,)),  # voices ever started per pad: a sound shorter than a feedback tick still shows
                 ("fifo", RECORD, (self.fifo_capacity,)),
                 ("events", RECORD, (self.events_capacity,)),
                 ("midi_out", MIDI_OUT_RECORD, (self.midi_out_capacity,)),
                 ("midi_out_ring", np.uint8, (self.midi_out_ring_bytes,)),
                 ("stream", np.float32, (self.stream_frames,)),
                 ("stream_in", np.float32, (self.stream_in_frames,)),
                 ("note_slots", np.int64, (MIDI_PORTS, 128)),  # (slot generation << 16) | slot; 0: the control process plays it
                 ("note_pads", np.int32, (MIDI_PORTS, 128)),  # pad | (choke group + 1) << 16
                 ("note_channels", np.int32, (MIDI_PORTS,)),  # bit c set: notes on channel c may start from the table
                 ("slot_onset", np.int32, (self.slots,)),
                 ("slot_gen", np.int64, (self.slots,)),
                 ("slot_taken", np.int64, (self.slots,)),  # generation of a variation the server started from the note table
                 ("slot_len", np.int64, (self.slots,)),
                 ("slot_refs", np.int32, (self.slots,)),
                 ("envelopes", np.float32, (self.slots, self.envelope_len)),
                 ("record", np.float32, (self.record_frames, self.channels)),
                 ("samples", np.float32, (self.slots, self.slot_frames))]
        out, offset = {}, 0
        for name, dtype, shape in specs:
            dtype = np.dtype(dtype)
            out[name] = (offset, dtype, shape)
            offset += -(-(dtype.itemsize * int(np.prod(shape))) // 64) * 64
        out["_end"] = (offset, np.dtype(np.uint8), (0,))
        return out

    @property
    def size(self) -> int:
        return self.regions()["_end"][0]

    def as_dict(self) -> dict:
        return asdict(self)


class SharedState:
    """Numpy views and atomic words over one segment laid out by `layout`. Same class on both sides."""

    def __init__(self, segment: Segment, layout: Layout) -> None:
        self.segment = segment
        self.layout = layout
        regions = layout.regions()
        for name, (offset, dtype, shape) in regions.items():
            if name.startswith("_"):
                continue
            count = int(np.prod(shape))
            setattr(self, name, np.frombuffer(segment.map, dtype=dtype, count=count, offset=offset).reshape(shape))
        words_offset = regions["words"][0]
        for i, name in enumerate(WORDS):
            setattr(self, name, segment.atomic(words_offset + i * 64))
        self.counter_index = {name: i for i, name in enumerate(COUNTERS)}
        self.float_index = {name: i for i, name in enumerate(FLOATS)}

    @classmethod
    def create(cls, layout: Layout, label: str = "server") -> "SharedState":
        return cls(Segment.create(label, layout.size), layout)

    @classmethod
    def attach(cls, fd: int, layout: Layout, populate: bool = False) -> "SharedState":
        return cls(Segment.attach(fd, layout.size, populate), layout)

    def counter(self, name: str) -> int:
        return int(self.counters[self.counter_index[name]])

    def float(self, name: str) -> float:
        return float(self.floats[self.float_index[name]])

    def error_message(self) -> str:
        raw = bytes(self.error_text)
        return raw.split(b"\0", 1)[0].decode("utf-8", "replace")

    def close(self) -> None:
        for name in list(vars(self)):
            if isinstance(getattr(self, name), np.ndarray):
                delattr(self, name)
        self.segment.close()
