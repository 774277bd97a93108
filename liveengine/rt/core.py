"""The audio callback: drain commands, start voices at their frame, mix, limit, copy out, publish status.

Runs in the audio server process (`liveengine/server/`), alone with the stream,
or in-process on the offline backend's fake clock: the same code either way.
Commands arrive as fixed records through the shared-memory FIFO; sounds are
sample-pool slots filled by the control process.

Contract for everything reachable from `RealtimeCore.process` (the audio thread):
- no inference, no file or socket I/O, no logging or printing, no imports;
- no locks: the FIFO and the shared status are read and written without waiting;
- allocation only of small bounded objects (views, floats, event tuples); every
  buffer it writes is preallocated or a pool slot filled off this thread;
- an exception becomes a silent block plus a counter and a message in the shared
  error text, never a dead stream; the control process reports it.
"""

from __future__ import annotations

import heapq
import threading
import time
from typing import NamedTuple

import numpy as np

from liveengine.audio.spec import MIDI_PORTS
from liveengine.options import EngineOptions
from liveengine.rt.limiter import SafetyLimiter
from liveengine.rt.midi_bytes import MidiByteParser
from liveengine.rt.stream import StreamVoice
from liveengine.rt.voices import VoicePool, velocity_gain
from liveengine.server.fifo import FifoReader, FifoWriter
from liveengine.server.layout import CLOCK_RING, XRUN_RING, SharedState

# Event kinds, as carried in a record's `kind` field. STREAM: the stream voice on (value: its gain) or off (0).
START, STOP_PAD, CHOKE, PANIC, GAIN, STREAM = range(6)
# The event FIFO's kind (server to control): a MIDI message read in the callback, at its frame;
# its input port rides in `slot`, its status, data1 and data2 in the `choke`, `pad` and `onset` fields,
# and `value` is 1.0 when the server already started its pad from the note table, 2.0 when what it
# started was the pad's next variation (MidiEvent names them).
MIDI_IN = 100
VARIATION_ENTRY = 1 << 30  # in a note_pads entry: the slot is the pad's next variation, which plays once


class MidiEvent(NamedTuple):
    """A MIDI message the audio server read (control side), from its event-FIFO record."""

    frame: int  # engine frame it arrived at
    port: int  # which of the server's MIDI inputs
    status: int
    data1: int
    data2: int
    started: bool  # the server started its pad itself (note table): bookkeeping only
    variation: bool = False  # what it started was the pad's next variation: the control process renders another

    @classmethod
    def of(cls, record: tuple) -> "MidiEvent":
        return cls(record[0], record[3], record[5], record[6], record[7], record[8] > 0.0, record[8] > 1.0)
# Target for "at the first frame of the next block". Not -1: a START for a hit on
# frame T begins at T - onset, which is negative (a real frame, into the pre-roll)
# for hits on the first `onset` frames, so the sentinel must be out of reach.
ASAP = -(1 << 62)
# Field positions in a record tuple (see server/layout.py RECORD); a scheduled
# event is (frame, seq, record) so equal frames keep their arrival order.
_FRAME, _GEN, _KIND, _SLOT, _GAIN, _CHOKE, _PAD, _ONSET, _VALUE = range(9)


class RealtimeCore:
    def __init__(self, options: EngineOptions, state: SharedState, start_frame: int = 0,
                 resume: tuple[int, float] | None = None) -> None:
        """`resume`: (frame, host time) of a dead server's last block; this one's clock then continues
        it at its first callback, by the time that passed (rounded up to whole blocks)."""
        self.options = options
        self.state = state
        self.frame = start_frame  # engine clock: first frame of the block being computed
        self._resume = resume
        self.fifo = FifoReader(state)
        self.voices = VoicePool(options.voices, options.release_voices, 1024, options.fade_frames, options.steal,
                                slot_refs=state.slot_refs, pad_voices=state.pad_voices, pad_starts=state.pad_starts)
        self.stream = StreamVoice(state.stream, state.stream_write, state.stream_read, tail_word=state.stream_tail,
                                  seq_word=state.stream_seq)
        self._in_ring, self._in_word = state.stream_in, state.stream_in_write
        self._in_size = len(state.stream_in)
        self._in_written = state.stream_in_write.load()  # a restarted server continues the input's count
        self._skew_word = state.stream_skew
        # Input events for the control process (MIDI read in this callback, to come): one producer, no lock.
        self.events = FifoWriter(state, "events", lock=False)
        self.midi = [MidiByteParser() for _ in range(MIDI_PORTS)]  # one per input port: running status is per source
        self._midi_port = 0
        self.note_slots, self.note_pads, self.slot_onset = state.note_slots, state.note_pads, state.slot_onset
        self.slot_taken, self.note_channels = state.slot_taken, state.note_channels
        self._note_seq = state.note_table_seq
        self._note_lead = options.blocksize if options.timing == "constant" else 0
        self.limiter = SafetyLimiter(options.limiter_ceiling, options.limiter_release_ms, options.samplerate, 1024)
        self.schedule: list = []  # heap of (frame, seq, record) for later blocks, at most schedule_capacity long
        self._drained: list = []
        self._due: list = []
        self._seq = 0
        self.mix = np.zeros(1024, dtype=np.float32)
        self._gain_ramp = np.zeros(1024, dtype=np.float32)
        self._index = np.arange(1024, dtype=np.float32)
        self.gain = options.master_gain
        self.target_gain = options.master_gain
        self.left, self.right = options.output_pair[0] - 1, options.output_pair[1] - 1
        self.peak = 0.0  # max |output| seen
        # Views made once: the audio thread only indexes them.
        self.samples = [state.samples[i] for i in range(len(state.slot_gen))]
        self.envelopes = [state.envelopes[i] for i in range(len(state.slot_gen))]
        self.slot_gen, self.slot_len = state.slot_gen, state.slot_len
        self._counters, self._floats = state.counters, state.floats
        index = state.counter_index
        self._i_frame, self._i_xruns = index["frame"], index["xruns"]
        self._i_late, self._i_full, self._i_stale = index["late_commands"], index["schedule_full"], index["stale_commands"]
        self._i_errors, self._i_error_seq = index["callback_errors"], index["error_seq"]
        self._i_sounding, self._i_fading = index["voices_sounding"], index["voices_fading"]
        self._i_steals, self._i_drained = index["steals"], index["drained"]
        self._i_cuts, self._i_limited = index["hard_cuts"], index["limited_blocks"]
        self._i_underruns, self._i_fades = index["stream_underruns"], index["stream_fades"]
        self._i_hurried = index["stream_fades_hurried"]
        self._i_bridges, self._i_bridges_hurried = index["stream_bridges"], index["stream_bridges_hurried"]
        # A block entered under half a period after the last: the backend catching up after it woke late (JACK's dummy
        # driver on a busy machine), so a stream producer had next to no time for its frame. Fades and bridges there
        # are counted apart too (stream_fades_hurried, stream_bridges_hurried).
        self._entered_last = -1.0
        self._hurried = False
        # a replacement server continues the counts
        self.stream.underruns, self.stream.fades = int(self._counters[self._i_underruns]), int(self._counters[self._i_fades])
        self.stream.bridges = int(self._counters[self._i_bridges])
        self._i_events_dropped = index["events_dropped"]
        self._i_midi = [index[k] for k in ("midi_messages", "midi_stray", "midi_sysex_unterminated", "midi_sysex_oversize")]
        self._i_peak, self._i_level, self._i_gain = (state.float_index[k] for k in ("peak", "level", "gain"))
        self._i_stream_gain = state.float_index["stream_gain"]
        self.blocks = state.blocks.load()  # continues a dead server's count: the clock ring stays in order
        self.thread_id = 0  # the callback thread's id, once it has run: the server's main thread sets its priority
        if self.blocks:  # a replacement server: the gain the last one had reached, not the patch's
            self.gain = self.target_gain = state.float("gain")
            if state.float("stream_gain") > 0.0:  # and the stream voice on, as it was (fading in once the producer is ahead)
                self.stream.command(state.float("stream_gain"), 0)
        self._counters[index["first_block"]] = self.blocks
        self._counters[index["started_frame"]] = start_frame
        self._counters[index["rec_resumed_from"]] = start_frame
        self._counters[self._i_frame] = start_frame
        self._floats[self._i_gain] = self.target_gain
        self._history = len(state.callback_seconds)
        self._rec_frames = len(state.record)

    def process(self, out: np.ndarray, frames: int, stream_time: float, lateness: float = 0.0, xrun: bool = False) -> None:
        """Fill `out` (float32[frames, channels]) with the next block. Audio thread only.

        stream_time: the backend's clock (seconds) when the callback was entered;
        lateness: how long the callback waited to start, by the host's clock.
        """
        entered = time.perf_counter()
        state = self.state
        if not self.thread_id:  # the first block only
            self.thread_id = threading.get_native_id()
        self._hurried = stream_time - self._entered_last < 0.5 * frames / self.options.samplerate
        self._entered_last = stream_time
        if self._resume is not None:
            self._continue_clock(stream_time, frames)
        block = self.blocks
        ring = block % CLOCK_RING
        state.clock_frames[ring] = self.frame
        state.clock_times[ring] = stream_time
        counters = self._counters
        if xrun:
            state.xrun_times[counters[self._i_xruns] % XRUN_RING] = entered
            counters[self._i_xruns] += 1
        try:
            self._render(out, frames)
        except Exception as exc:  # keep the stream alive: silence this block, report through the status
            out.fill(0.0)
            self._error(exc)
        self._record(out, frames)
        self.frame += frames
        counters[self._i_frame] = self.frame
        i = block % self._history
        state.callback_seconds[i] = time.perf_counter() - entered
        state.lateness_seconds[i] = lateness
        self.blocks = block + 1
        state.blocks.store(block + 1)  # publishes this block: frame, clock entry, counters, refs

    def audio_in(self, samples: np.ndarray) -> None:
        """The audio input's block (mono float32, the block about to be computed; audio thread): copied into the
        input ring a streaming producer reads (timbre transfer), then published. Two slice copies, no allocation.

        Before the count, `stream_skew`: input written minus the stream voice's read, both where the last block left
        them. Input frame i and stream ring frame i - skew are heard at the same moment; a producer that saw this
        block's count sees that skew or a newer one (x86 and the interpreter keep the two stores in order)."""
        count = len(samples)
        written, size, ring = self._in_written, self._in_size, self._in_ring
        self._skew_word.store(written - self.stream.read)
        if count > size:
            samples, written, count = samples[count - size :], written + count - size, size
        start = written % size
        first = min(count, size - start)
        ring[start : start + first] = samples[:first]
        if count > first:
            ring[: count - first] = samples[first:]
        self._in_written = written + count
        self._in_word.store(self._in_written)

    def midi_in(self, port: int, offset: int, data) -> None:
        """A raw MIDI event on input `port`, `offset` frames into the block about to be computed (JACK
        backend, audio thread): parsed here, each message sent to the control process with its frame."""
        self._midi_port = port
        self.midi[port].feed(memoryview(data), offset, self._emit_midi)

    def _emit_midi(self, offset: int, status: int, data1: int, data2: int) -> None:
        frame = self.frame + offset
        played = 0.0
        if status & 0xF0 == 0x90 and data2 > 0 and (self.note_channels[self._midi_port] >> (status & 0x0F)) & 1:
            played = self._play_note(frame, data1, data2)
        # Every message goes to the control process; `value` > 0 says this one already sounds (bookkeeping only).
        if self.events.put((frame, 0, MIDI_IN, self._midi_port, 0.0, status, data1, data2, played, 0, 0)) < 0:
            self._counters[self._i_events_dropped] += 1

    def _play_note(self, frame: int, note: int, velocity: int) -> float:
        """Start a note's pad from the control process's note table, with no round trip: in `constant`
        timing exactly one period after its frame. 1.0 if started, 2.0 if it started the pad's next variation;
        0.0 leaves it to the control process (no entry: a hit that needs it, see server_ports.py; a slot
        refilled since the entry was made; or a variation this server already played once)."""
        self._note_seq.load()  # acquire: table entries and the slots they name, as the control process published them
        port = self._midi_port
        entry = int(self.note_slots[port, note])
        if entry <= 0:
            return 0.0
        slot, gen = entry & 0xFFFF, entry >> 16
        if self.slot_gen[slot] != gen:
            return 0.0
        pad_choke = int(self.note_pads[port, note])
        variation = pad_choke & VARIATION_ENTRY
        if variation and self.slot_taken[slot] == gen:
            return 0.0  # played once already: the control process plays the pad and renders the next
        pad_choke &= VARIATION_ENTRY - 1
        onset = int(self.slot_onset[slot])
        gain = velocity_gain(velocity / 127.0, self.options.velocity_curve)
        self._seq += 1
        start = frame + self._note_lead - onset
        record = (start, gen, START, slot, gain, (pad_choke >> 16) - 1, pad_choke & 0xFFFF, onset, 0.0, 0, 0)
        if len(self.schedule) < self.options.schedule_capacity:
            heapq.heappush(self.schedule, (start, self._seq, record))
            if variation:
                self.slot_taken[slot] = gen
                return 2.0
            return 1.0
        self._counters[self._i_full] += 1
        return 0.0

    def _continue_clock(self, now: float, frames: int) -> None:
        last_frame, last_time = self._resume
        self._resume = None
        passed = max(0, int((now - last_time) * self.options.samplerate))
        self.frame = last_frame + max(1, -(-passed // frames)) * frames
        index = self.state.counter_index
        # Before this block's rec_written: the recorder learns the gap before it sees frames past it.
        self._counters[index["rec_resumed_from"]] = self.state.rec_written.load()
        self._counters[index["started_frame"]] = self.frame

    def _error(self, exc: Exception) -> None:
        counters = self._counters
        counters[self._i_errors] += 1
        text = f"{type(exc).__name__}: {exc}".encode("utf-8", "replace")[: len(self.state.error_text) - 1]
        self.state.error_text[: len(text)] = np.frombuffer(text, np.uint8)
        self.state.error_text[len(text)] = 0
        counters[self._i_error_seq] += 1

    def _record(self, out: np.ndarray, frames: int) -> None:
        """Copy the block into the record ring at its frame (always: 1 KB a block, and a recording
        can then start on any block); the control process's writer drains it when recording."""
        size = self._rec_frames
        start = self.frame % size
        first = min(frames, size - start)
        ring = self.state.record
        ring[start : start + first] = out[:first]
        if first < frames:
            ring[: frames - first] = out[first:frames]
        self.state.rec_written.store(self.frame + frames)

    def _render(self, out: np.ndarray, frames: int) -> None:
        start = self.frame
        end = start + frames
        due = self._due
        drained = self._drained
        # Drain at most max_drain commands; timed ones for later blocks wait in the heap.
        if self.fifo.drain(drained, self.options.max_drain):
            self._counters[self._i_drained] += len(drained)
            capacity = self.options.schedule_capacity
            for record in drained:
                self._seq += 1
                event = (record[_FRAME], self._seq, record)
                if event[0] < end:
                    due.append(event)
                elif len(self.schedule) < capacity:
                    heapq.heappush(self.schedule, event)
                else:
                    self._counters[self._i_full] += 1
            drained.clear()
        schedule = self.schedule
        while schedule and schedule[0][0] < end:
            due.append(heapq.heappop(schedule))
        if due:
            if len(due) > 1:
                due.sort(key=_event_order)
            try:
                for event in due:
                    self._apply(event[2], start)
            finally:
                due.clear()  # an event that raised must not be applied (and raise) again every block

        mix = self.mix[:frames]
        mix.fill(0.0)
        voices = self.voices
        voices.mix_into(mix, frames)
        self.stream.mix_into(mix, frames)
        self._apply_gain(mix, frames)
        self.limiter.process(mix)
        peak = float(np.max(np.abs(mix)))
        floats = self._floats
        floats[self._i_level] = peak
        if peak > self.peak:
            self.peak = peak
            floats[self._i_peak] = peak
        counters = self._counters
        counters[self._i_sounding] = len(voices.sounding)
        counters[self._i_fading] = len(voices.fading)
        counters[self._i_steals] = voices.steals
        counters[self._i_cuts] = voices.hard_cuts
        counters[self._i_limited] = self.limiter.active_blocks
        counters[self._i_underruns] = self.stream.underruns
        if self.stream.fades != counters[self._i_fades] and self._hurried:
            counters[self._i_hurried] += 1
        counters[self._i_fades] = self.stream.fades
        if self.stream.bridges != counters[self._i_bridges] and self._hurried:
            counters[self._i_bridges_hurried] += 1
        counters[self._i_bridges] = self.stream.bridges
        (i_messages, i_stray, i_unterminated, i_oversize), m = self._i_midi, self.midi
        counters[i_messages] = m[0].messages + m[1].messages + m[2].messages + m[3].messages
        counters[i_stray] = m[0].stray + m[1].stray + m[2].stray + m[3].stray
        counters[i_unterminated] = m[0].sysex_unterminated + m[1].sysex_unterminated + m[2].sysex_unterminated + m[3].sysex_unterminated
        counters[i_oversize] = m[0].sysex_oversize + m[1].sysex_oversize + m[2].sysex_oversize + m[3].sysex_oversize
        out.fill(0.0)
        out[:, self.left] = mix
        if self.right != self.left:
            out[:, self.right] = mix

    def _apply(self, record: tuple, block_start: int) -> None:
        frame, kind = record[_FRAME], record[_KIND]
        offset = frame - block_start
        if kind == START:
            slot = record[_SLOT]
            if not 0 <= slot < len(self.samples) or self.slot_gen[slot] != record[_GEN]:
                self._counters[self._i_stale] += 1  # the slot was refilled since: never play the wrong sound
                return
            onset = record[_ONSET]
            skip = 0
            if frame == ASAP:
                offset = 0
            elif offset < 0:
                # Begun in a block already gone: skip into the pre-roll if the
                # transient itself is still ahead, else it is late and plays now.
                skip = -offset
                offset = 0
                if skip > onset:
                    skip = 0
                    self._counters[self._i_late] += 1
            length = int(self.slot_len[slot])
            self.voices.start(self.samples[slot][:length], self.envelopes[slot], record[_GAIN], offset, skip,
                              record[_CHOKE], record[_PAD], slot)
            return
        if offset < 0:
            if frame != ASAP:
                self._counters[self._i_late] += 1
            offset = 0
        if kind == STOP_PAD:
            self.voices.stop_pad(record[_PAD], offset)
        elif kind == CHOKE:
            self.voices.choke_group(record[_CHOKE], offset)
        elif kind == GAIN:
            self.target_gain = record[_VALUE]
            self._floats[self._i_gain] = self.target_gain
        elif kind == PANIC:
            self.voices.fade_all(offset)
            self.stream.panic(offset)
            self.schedule.clear()
        elif kind == STREAM:
            self.stream.command(record[_VALUE], offset)
            self._floats[self._i_stream_gain] = record[_VALUE]

    def _apply_gain(self, mix: np.ndarray, frames: int) -> None:
        if self.gain == self.target_gain:
            if self.gain != 1.0:
                mix *= self.gain
            return
        # Ramp over one block so a gain change never clicks.
        ramp = self._gain_ramp[:frames]
        np.multiply(self._index[:frames], (self.target_gain - self.gain) / frames, out=ramp)
        ramp += self.gain
        mix *= ramp
        self.gain = self.target_gain


def _event_order(event: tuple) -> tuple:
    return (event[0] if event[0] != ASAP else -1, event[1])

