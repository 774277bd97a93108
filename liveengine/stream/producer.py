"""The stream producer: a process of its own that runs a stream model frame by frame and fills the
audio server's stream ring (server/stream.py) a little ahead of the stream voice (rt/stream.py).

Two inputs:
- `notes` (the pad voice): notes and the XY pad (pad_voice.py) give pitch, loudness and z per
  frame. The producer keeps the ring `margin` frames ahead of what the server has played
  (`stream_read`), no more: a note reaches the ring within one poll and is heard at most a
  margin later.
- `audio` (timbre transfer): the server's audio input ring (`stream_in`, written by its callback)
  is tracked for pitch and loudness (tracker.py, causal) hop by hop; each hop becomes one frame of
  the model at z, mixed with the dry input (delayed to match) by `mix`, and written at once, at a
  fixed lead after its input (below). After a silent frame the next frame starts at the input's
  onset (its first sample above SILENT_DB), not on the old frame grid, and its sound starts at its
  own controls with a short rise: an onset is heard the lead after it, wherever it fell in a frame.

The lead (audio input): input frame i is written to the stream ring where the voice plays it `lead`
frames after the server received it (the server publishes `stream_skew`, which ring frame plays
with which input frame). `lead` = a hop (the frame must be whole before it is tracked) + a block
(it is written after the callback that brought it), plus `slack_blocks` blocks: 368 samples, 7.7 ms
at 48 kHz with 5 ms frames and 128-frame periods and no slack. The producer then always has at least
one period to answer. No fade reserve: past each write goes what would follow it (the synth run on for a
block and a fade, `tail`), which the voice plays through if the next frame is a block late, and fades over if it is
later still (rt/stream.py). Fixed by the period and hop, so
the added latency is the same in every run; a voice that waited for a late producer (or was off) is
caught up by dropping what it fell behind (crossfaded, counted), a voice that skipped ahead (a panic)
by writing silence (counted).

Its own process, so the model never competes with the audio callback for an interpreter lock.
Started from the fork server like the render process (render/process_workers.py), restarted by
the control process when it dies (player.py), and it exits when the control process does (its
pipe closes). Messages in are tuples (see StreamProducer.handle); out: ("ready", problem) once,
then ("stats", dict) twice a second.

Every loss is counted: the model's NaN blocks (silenced, state reset), frames the input ring
overran before the producer read them, silent and unpitched input frames (played as the tracker
holds them), frames the stream ring had no room for, output dropped or silence written to hold the
lead (`trims`/`trimmed`, `padded`), frames started at an onset (`onsets`).
"""

from __future__ import annotations

import gc
import os
import select
import time
from dataclasses import asdict, dataclass

import numpy as np

from liveengine.rt.stream import FADE_FRAMES
from liveengine.server.layout import SharedState
from liveengine.server.stream import StreamWriter

INPUTS = ("notes", "audio")
SILENT_DB = -70.0  # input frames below this are silence: the voice's gate closes over GATE_DB above it
GATE_DB = 10.0
STATS_SECONDS = 0.5
POLL_SECONDS = 0.0005
POLL_AUDIO_SECONDS = 0.0002  # audio input: a frame is due a period after its last sample came in; less of that asleep
# Audio input: the next block comes a period after the last one was seen; the producer sleeps until AHEAD_SECONDS before
# that, then checks every POLL_AUDIO_SECONDS (0.2 ms checks all the time cost the process 0.38 cores, this 0.22)
AHEAD_SECONDS = 0.0003
TRIM_FADE = 32
ONSET_LEVEL = 10.0 ** (SILENT_DB / 20.0)  # after a silent frame, the first input sample above this starts the next frame
ONSET_RISE = 32  # samples: an onset frame's gate rises over these (0.67 ms at 48 kHz), not over the whole frame
PRODUCER_NICE = -5  # above the control process, below the audio server's -10: it feeds the audio in real time
PRODUCER_FIFO = 10  # at most this SCHED_FIFO priority, and always below the audio callback's: it answers within a period


def producer_priority(callback_fifo: int) -> int:
    """The producer's SCHED_FIFO priority for an audio callback at SCHED_FIFO `callback_fifo` (0: not real-time): one
    step below the callback, at most PRODUCER_FIFO (JACK's default `jackd -R` puts its clients at 5, PipeWire and a
    `-P 70` server far higher). 0 where there is no room below it: then nice -5 (above the control process, below the
    audio server's -10). Never above the callback: it would hold it up."""
    return min(PRODUCER_FIFO, callback_fifo - 1) if callback_fifo >= 2 else 0


def raise_priority(callback_fifo: int) -> str:
    """Set the producer's scheduling below the audio callback's (producer_priority) where the system allows it; it
    sleeps in its poll between periods, so it never holds a core. Returns what it got, for /status."""
    fifo = producer_priority(callback_fifo)
    if fifo:
        try:
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(fifo))
            return f"SCHED_FIFO {fifo}"
        except (AttributeError, OSError):
            pass
    try:
        if os.sched_getscheduler(0) != os.SCHED_OTHER:
            os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))  # the callback is no longer real-time
        os.setpriority(os.PRIO_PROCESS, 0, PRODUCER_NICE)
    except (AttributeError, OSError):
        pass  # not allowed here: it runs at the control process's priority
    try:
        return f"nice {os.getpriority(os.PRIO_PROCESS, 0)}"
    except (AttributeError, OSError):
        return "normal"


@dataclass(frozen=True)
class StreamSettings:
    """The patch's [stream] section as the producer uses it (liveengine/stream/section.py checks it)."""

    input: str = "notes"
    mix: float = 1.0  # wet share: 1 = the model only, 0 = the dry input only (audio input)
    pitch_low: int = 36  # MIDI notes outside are clamped into the range
    pitch_high: int = 96
    portamento_ms: float = 40.0
    attack_ms: float = 10.0
    release_ms: float = 150.0
    gain: float = 0.8
    # blocks of lead beyond the least that works when the producer is never late (both inputs): 0.75 keeps the added
    # latency under 10 ms at 128-frame periods (9.7 ms; 1 block: 10.4 ms and fewer fades, docs/benchmarks.md)
    slack_blocks: float = 0.75

    def as_dict(self) -> dict:
        return asdict(self)


def lead_frames(blocksize: int, hop: int, slack_blocks: float = 0.0) -> int:
    """Audio input: frames from an input sample's arrival at the server to its re-voiced sample's playing (see
    the module's docstring); the least that never runs dry when the producer answers within a period, and slack."""
    return hop + blocksize + round(slack_blocks * blocksize)


def margin_frames(blocksize: int, hop: int, slack_blocks: float = 0.0) -> int:
    """How far ahead of the server's reads the pad voice keeps the ring: the block being played, one frame of the
    model (written a frame at a time), and `slack_blocks` blocks for a producer the machine holds up (no fade reserve:
    each write leaves a continuation to play through or fade over, rt/stream.py)."""
    return blocksize + hop + round(slack_blocks * blocksize)


class Window:
    """The last `size` values of a measure, in a fixed array: appending allocates nothing, and the statistics read
    one array (the producer's counts every 0.5 s took 1 to 11 ms from deques of tuples, long enough to miss a frame)."""

    def __init__(self, size: int = 4096) -> None:
        self._values = np.zeros(size)
        self._count = 0

    def append(self, value: float) -> None:
        self._values[self._count % len(self._values)] = value
        self._count += 1

    def __len__(self) -> int:
        return min(self._count, len(self._values))

    def values(self) -> np.ndarray:
        """The values kept (in no particular order); one 0 when there are none."""
        return self._values[: len(self)] if self._count else np.zeros(1)


class StreamProducer:
    """The producer's work, without the process around it (the tests and the bench drive it directly)."""

    def __init__(self, state: SharedState, model, sample_rate: int, blocksize: int, settings: StreamSettings) -> None:
        from liveengine.stream.pad_voice import PadVoice
        from liveengine.stream.synth import HarmonicNoiseSynth
        from liveengine.stream.tracker import CausalTracker

        info = model.info
        self.state, self.model, self.settings = state, model, settings
        self.sample_rate = sample_rate
        self.hop = hop = info.hop(sample_rate)
        self.synth = HarmonicNoiseSynth(sample_rate, hop, info.harmonics, info.band_edges_hz)
        f0_low, f0_high = info.f0_range_hz
        self.tracker = CausalTracker(sample_rate, hop, max(f0_low, 30.0), min(f0_high, 0.45 * sample_rate))
        self.pad = PadVoice(sample_rate / hop, info.loudness_range_db, settings.portamento_ms, settings.attack_ms, settings.release_ms,
                            (settings.pitch_low, settings.pitch_high))
        self.writer = StreamWriter(state)
        self.margin = margin_frames(blocksize, hop, settings.slack_blocks)
        self.blocksize = blocksize
        # past each write, what would follow it: enough for the voice to play a block through and crossfade out of it
        self.continuation_frames = blocksize + FADE_FRAMES
        self._silent_tail = np.zeros(self.continuation_frames, np.float32)  # what follows silence written to hold the lead
        self.lead = lead_frames(blocksize, hop, settings.slack_blocks)
        self.trims = 0  # times output was dropped to hold the lead (the voice had waited for the producer, or was off)
        self.trimmed = 0  # samples dropped by those trims
        self.padded = 0  # samples of silence written to hold the lead (at the start, after a panic)
        self.onsets = 0  # frames started at an onset after silence
        self._in_ring, self._in_word, self._skew = state.stream_in, state.stream_in_write, state.stream_skew
        self._in_read = self._in_word.load()
        self._unframed = np.zeros(0, np.float32)  # input read but in no frame yet (also the dry path, aligned to the wet)
        self._unframed_at = self._in_read  # the input frame of its first sample
        self._quiet = True  # the last frame was silent: the next starts at an onset
        self._gate = 0.0  # the last frame's gate (interpolated across each frame, as the synth's controls)
        self._ramp = np.arange(1, hop + 1, dtype=np.float32) / hop
        self._rise = np.minimum(np.arange(1, hop + 1, dtype=np.float32) / ONSET_RISE, 1.0)
        self._follow: np.ndarray | None = None  # what would have followed the last sample written, after a drop or a pad
        self._dry_end = np.zeros(0, np.float32)  # audio input mixed with dry: the last dry samples written
        self.frames = 0
        self.silent_frames = 0  # audio input below SILENT_DB
        self.unpitched_frames = 0  # audio input the tracker was not confident of (pitch held)
        self.input_skipped = 0  # input samples the ring overran before they were read
        self.ring_full = 0  # samples the stream ring had no room for (the stream voice not playing)
        self._period = blocksize / sample_rate
        self._input_at = 0.0  # when the last input block was seen
        self.overslept = Window()  # ms each of the last waits that timed out came back late
        self.answers = Window()  # audio input: ms from reading new input to its frames written, per write
        self.compute = Window()  # ms of model and synthesis per frame, per call
        self.compute_cpu = Window()  # the same in this thread's CPU time
        # audio input, per write: where its first sample goes less the voice's read position, in samples: below 0 the
        # voice's last block had already found it missing (a bridge or a fade), 0 to a block: just in time
        self.headroom = Window()

    def _restart_input(self) -> None:
        """Audio input from now on, not what the ring held: the tracker and the framing start again."""
        self._in_read = self._unframed_at = self._in_word.load()
        self._unframed = np.zeros(0, np.float32)
        self._quiet = True
        self._follow = None  # the last samples written came from notes: nothing of this input to continue
        self.tracker.reset()

    # ---- messages from the control process ----
    def handle(self, message: tuple) -> None:
        kind = message[0]
        if kind == "note":
            self.pad.note_on(message[1], message[2])
        elif kind == "off":
            self.pad.note_off(None if message[1] < 0 else message[1])
        elif kind == "xy":
            self.pad.xy(message[1], message[2])
        elif kind == "panic":
            self.reset()
        elif kind == "settings":
            settings = StreamSettings(**message[1])
            if settings.input != self.settings.input:
                self._restart_input()
            self.settings = settings
            self.lead = lead_frames(self.blocksize, self.hop, settings.slack_blocks)
            self.margin = margin_frames(self.blocksize, self.hop, settings.slack_blocks)
            self.pad.pitch_range = (settings.pitch_low, settings.pitch_high)
            self.pad.set_shape(settings.portamento_ms, settings.attack_ms, settings.release_ms)

    def reset(self) -> None:
        """Panic: the model's state, the synth's phase, the tracker and the notes back to the start."""
        self.model.reset()
        self.synth.reset()
        self.tracker.reset()
        self.pad.panic()
        self._gate = 0.0
        self._quiet = True  # audio input: the next frame starts at the input's next onset

    def quiet(self) -> bool:
        """Nothing more to hear: the gate closed (and, playing notes, none held or releasing), and all the ring holds
        ahead of the server silence. An offline render runs until this is so."""
        if self._gate > 0.0 or (self.settings.input == "notes" and (self.pad.held or self.pad.envelope > 0.0)):
            return False
        ring, size = self.state.stream, len(self.state.stream)
        read = self.state.stream_read.load()
        count = min(self.writer.written - read, size)
        if count <= 0:
            return True
        start = read % size
        first = min(count, size - start)
        return not (ring[start : start + first].any() or ring[: count - first].any())

    def compute_ms(self, cpu: bool = False) -> tuple[float, float]:
        """Median and 99th percentile of the model plus synthesis time per frame (ms) over the last 4096 calls: wall time
        (what the lead waits for), or this thread's CPU time (`cpu`: the same less any time the system ran something else)."""
        if not len(self.compute):
            return 0.0, 0.0
        per_frame = (self.compute_cpu if cpu else self.compute).values()
        return float(np.median(per_frame)), float(np.percentile(per_frame, 99))

    def stats(self) -> dict:
        median, p99 = self.compute_ms()
        cpu_median, cpu_p99 = self.compute_ms(cpu=True)
        room, late, answers = self.headroom.values(), self.overslept.values(), self.answers.values()
        return {"compute_ms_median": round(median, 4), "compute_ms_p99": round(p99, 4),
                "compute_cpu_ms_median": round(cpu_median, 4), "compute_cpu_ms_p99": round(cpu_p99, 4),
                "headroom_min": int(room.min()), "headroom_p1": float(np.percentile(room, 1)),
                "answer_ms_median": round(float(np.median(answers)), 3), "answer_ms_p99": round(float(np.percentile(answers, 99)), 3),
                "answer_ms_max": round(float(answers.max()), 3),
                "overslept_ms_p99": round(float(np.percentile(late, 99)), 3), "overslept_ms_max": round(float(late.max()), 3),
                "frames": self.frames, "nan_frames": self.model.nan_frames, "resets": self.model.resets,
                "silent_frames": self.silent_frames, "unpitched_frames": self.unpitched_frames,
                "input_skipped": self.input_skipped, "ring_full": self.ring_full, "trims": self.trims, "trimmed": self.trimmed,
                "padded": self.padded, "onsets": self.onsets, "lead": self.lead}

    # ---- the work ----
    def wait(self, conn, seconds: float) -> bool:
        """message_within(conn, seconds), and how late a wait that timed out came back (the system ran something else
        meanwhile: a kernel without preemption finishing another process's work, a busier real-time thread)."""
        if seconds <= 0:
            return message_within(conn, 0)
        began = time.perf_counter()
        got = message_within(conn, seconds)
        if not got:
            self.overslept.append(1000.0 * (time.perf_counter() - began - seconds))
        return got

    def wait_seconds(self, now: float | None = None) -> float:
        """How long to wait for a message before the next pump when this one produced nothing (`now`: a
        time.perf_counter() reading, the current one by default)."""
        if self.settings.input != "audio":
            return POLL_SECONDS
        now = time.perf_counter() if now is None else now
        due = self._input_at + self._period - AHEAD_SECONDS - now
        if due <= 0 and now - self._input_at > 2 * self._period:
            return POLL_SECONDS  # no input for two periods (none connected, the server stopped): check less often
        return max(POLL_AUDIO_SECONDS, due)

    def pump(self) -> int:
        """Produce what is due now; returns the frames (samples) written."""
        if self.settings.input == "audio":
            began = time.perf_counter()
            done = self._pump_audio()
            if done:
                self.answers.append(1000.0 * (time.perf_counter() - began))
            return done
        ahead = self.writer.written - self.state.stream_read.load()
        count = (self.margin - ahead) // self.hop
        if count <= 0:
            return 0
        f0, loudness, z, gate = self.pad.frames(count)
        return self._voice(f0, loudness, z, gate)

    def _pump_audio(self) -> int:
        written, size = self._in_word.load(), len(self._in_ring)
        skew = self._skew.load()  # stored before the count: this block's or a newer one
        available = written - self._in_read
        if available <= 0:
            return 0
        if available > size:  # the producer fell behind by a whole ring: skip to the newest input
            self.input_skipped += available - size
            self._in_read = self._unframed_at = written - size
            self._unframed = np.zeros(0, np.float32)  # the dry path starts again with the tracker, aligned
            self._quiet = True
            self.tracker.reset()
            available = size
        start = self._in_read % size
        first = min(available, size - start)
        block = self._in_ring[start : start + first]
        if available > first:
            block = np.concatenate((block, self._in_ring[: available - first]))
        self._in_read = written
        self._input_at = time.perf_counter()
        data = np.concatenate((self._unframed, block))
        audio, used = self._frames(data)
        self._unframed = data[used:]
        end = self._unframed_at + used
        self._unframed_at = end
        if not used:
            return 0
        mix = self.settings.mix
        if mix < 1.0:
            audio = mix * audio + (1.0 - mix) * data[:used]
            self._dry_end = np.concatenate((self._dry_end, data[:used]))[-self.continuation_frames:]
        return self._place(audio, end - skew + self.lead)

    def _frames(self, data: np.ndarray) -> tuple[np.ndarray, int]:
        """Frame the input from its start: (the wet audio for the first `used` samples, used). After a silent frame
        the next one starts at the first sample above ONSET_LEVEL (the samples before are a silent gap, kept in
        the tracker's window); otherwise frames follow each other a hop apart."""
        hop, pad = self.hop, self.pad
        pieces, pos = [], 0
        while True:
            if self._quiet:
                above = np.flatnonzero(np.abs(data[pos : pos + hop]) > ONSET_LEVEL)
                if len(above) and above[0]:
                    gap = int(above[0])
                    self.tracker.absorb(data[pos : pos + gap])
                    pieces.append(np.zeros(gap, np.float32))
                    pos += gap
            if len(data) - pos < hop:
                break
            f0, loudness, confidence = self.tracker.step(data[pos : pos + hop])
            pos += hop
            silent = loudness < SILENT_DB
            self.silent_frames += int(silent)
            self.unpitched_frames += int(confidence < 0.5 and not silent)
            pad.z = pad.target_z + (pad.z - pad.target_z) * pad._z_keep  # z follows the pad smoothly, as for notes
            gate = min(max((loudness - SILENT_DB) / GATE_DB, 0.0), 1.0)
            onset = self._quiet and not silent
            self._quiet = silent
            began, began_cpu = time.perf_counter(), time.thread_time()
            if onset:  # the frame starts at the onset: its sound starts there too
                self.onsets += 1
                self.synth.jump()
                shape = self._rise * gate
            else:
                shape = self._gate + (gate - self._gate) * self._ramp
            self._gate = gate
            pieces.append(self._wet(np.array([f0], np.float32), np.array([loudness], np.float32), pad.z[None, :].astype(np.float32), shape))
            self._timed(began, began_cpu, 1)
        if not pieces:
            return np.zeros(0, np.float32), 0
        return (np.concatenate(pieces) if len(pieces) > 1 else pieces[0]), pos

    def _wet(self, f0, loudness, z, shape) -> np.ndarray:
        """The model and the synth for frames of controls; the audio times `shape` (the gate, per sample)."""
        amplitude, harmonics, noise = self.model.run(f0, loudness, z)
        audio = self.synth.render(f0, amplitude, harmonics, noise)
        audio *= shape
        self.frames += len(f0)
        return audio

    def _place(self, audio: np.ndarray, end: int) -> int:
        """Audio input: write `audio` so that it ends at stream ring frame `end` (its input's lead). Ahead of that (the
        voice waited for a late producer, or was off): drop the excess; behind (a panic moved the voice on, or the
        start): write silence first. Either way the next sample written crossfades over TRIM_FADE samples from what
        would have followed the last one, so nothing clicks."""
        # the voice's last read checked for a block written: below this the frame came too late
        self.headroom.append(end - len(audio) - self.state.stream_read.load())
        behind = end - len(audio) - self.writer.written
        if behind < 0:
            drop = min(-behind, len(audio))
            self.trims += 1
            self.trimmed += drop
            if self._follow is None:
                self._follow = audio[:TRIM_FADE].copy()
            audio = audio[drop:]
        elif behind > 0:
            self.padded += behind
            self._write(np.zeros(behind, np.float32), follows=False)  # the audio written next follows it, not the synth
            self._follow = np.zeros(TRIM_FADE, np.float32)
        if not len(audio):
            return 0
        if self._follow is not None:
            n = min(len(audio), len(self._follow))
            ramp = np.arange(1, n + 1, dtype=np.float32) / (n + 1)
            audio = audio.copy()
            audio[:n] = audio[:n] * ramp + self._follow[:n] * (1.0 - ramp)
            self._follow = None
        return self._write(audio)

    def _write(self, audio: np.ndarray, follows: bool = True) -> int:
        """Write to the stream ring; `follows`: the synth's continuation follows `audio` (rt/stream.py plays through it), else
        (`audio` is silence written to hold the lead) silence does."""
        tail = self._continuation() if follows else self._silent_tail  # silence goes on silent
        taken = self.writer.write(audio.astype(np.float32, copy=False), tail)
        self.ring_full += len(audio) - taken
        return taken

    def _continuation(self) -> np.ndarray:
        """What would follow the last frame written (a block and a fade of it, for the voice to play through if the
        next frame is late, rt/stream.py): the synth run on with its last controls, at the last gate; audio input mixed
        with dry: the dry input's last samples mirrored (they continue it without a step; the input that follows has
        not come in yet)."""
        tail = self.synth.continuation(self.continuation_frames)
        tail *= self._gate
        mix = self.settings.mix
        if self.settings.input == "audio" and mix < 1.0:
            tail *= mix
            dry = self._dry_end[::-1]
            tail[: len(dry)] += (1.0 - mix) * dry
        return tail

    def _timed(self, began: float, began_cpu: float, frames: int) -> None:
        self.compute.append(1000.0 * (time.perf_counter() - began) / frames)
        self.compute_cpu.append(1000.0 * (time.thread_time() - began_cpu) / frames)

    def _voice(self, f0, loudness, z, gate) -> int:
        """The pad voice: frames of controls -> the ring (the gate interpolated across each frame)."""
        began, began_cpu = time.perf_counter(), time.thread_time()
        previous = np.concatenate(([self._gate], gate[:-1])).astype(np.float32)
        shape = (previous[:, None] + (gate - previous)[:, None] * self._ramp[None, :]).reshape(-1)
        audio = self._wet(f0, loudness, z, shape)
        self._gate = float(gate[-1])
        self._timed(began, began_cpu, len(f0))
        return self._write(audio)


def message_within(conn, seconds: float) -> bool:
    """Whether a message arrives on `conn` within `seconds`. Not conn.poll(seconds): multiprocessing waits with poll(2),
    which takes whole milliseconds and rounds up, so 0.2 ms became 1 ms (measured in the producer: its input was
    noticed up to 1 ms late, a third of the period it has to answer in). select(2) takes microseconds."""
    if seconds <= 0:
        return conn.poll(0)
    return bool(select.select([conn], [], [], seconds)[0])


def producer_main(fd, layout: dict, folder: str, sample_rate: int, blocksize: int, settings: dict, conn) -> None:
    """The producer process: load the model, answer ready (or the problem), then produce until the pipe closes."""
    from liveengine.decoders.stream_model import StreamModel
    from liveengine.errors import LiveEngineError
    from liveengine.server.layout import Layout

    state = SharedState.attach(fd, Layout(**layout))
    callback_fifo = int(state.counters[state.counter_index["callback_fifo"]])
    priority = raise_priority(callback_fifo)
    try:
        model = StreamModel(folder, threads=1)
        producer = StreamProducer(state, model, sample_rate, blocksize, StreamSettings(**settings))
    except LiveEngineError as exc:
        conn.send(("ready", str(exc)))
        return
    conn.send(("ready", ""))
    # What the fork server and the model's load left (numpy, onnxruntime, their modules: a full collection of them takes
    # milliseconds) out of the collector's reach: the frames made below hold no cycles, so collections stay short.
    gc.freeze()
    producer.stats()  # its first call takes milliseconds (numpy's percentile code, cold): here, not between two frames
    parent = os.getppid()
    next_stats = time.monotonic() + STATS_SECONDS
    try:
        while True:
            wrote = producer.pump()
            while producer.wait(conn, 0.0 if wrote else producer.wait_seconds()):
                producer.handle(conn.recv())
                wrote = producer.pump()
            # the counts right after a write (audio input), when the next frame is furthest off
            if time.monotonic() >= next_stats and (wrote or producer.settings.input != "audio" or time.monotonic() >= next_stats + 0.1):
                next_stats += STATS_SECONDS
                now_fifo = int(state.counters[state.counter_index["callback_fifo"]])
                if now_fifo != callback_fifo:  # the audio server started, or a new one replaced it: stay below its callback
                    callback_fifo, priority = now_fifo, raise_priority(now_fifo)
                conn.send(("stats", {**producer.stats(), "priority": priority}))
                if os.getppid() != parent:
                    return
    except (EOFError, BrokenPipeError, OSError):
        return  # the control process closed the pipe or died
