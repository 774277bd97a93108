"""The stream producer: a process of its own that runs a stream model frame by frame and fills the
audio server's stream ring (server/stream.py) a little ahead of the stream voice (rt/stream.py).

Two inputs:
- `notes` (the pad voice): notes and the XY pad (pad_voice.py) give pitch, loudness and z per
  frame. The producer keeps the ring `margin` frames ahead of what the server has played
  (`stream_read`), no more: a note reaches the ring within one poll and is heard at most a
  margin later.
- `audio` (timbre transfer): the server's audio input ring (`stream_in`, written by its callback)
  is tracked for pitch and loudness (tracker.py, causal) hop by hop; each hop becomes one frame of
  the model at z, mixed with the dry input (delayed to match) by `mix`, and written at once.

Its own process, so the model never competes with the audio callback for an interpreter lock.
Started from the fork server like the render process (render/process_workers.py), restarted by
the control process when it dies (player.py), and it exits when the control process does (its
pipe closes). Messages in are tuples (see StreamProducer.handle); out: ("ready", problem) once,
then ("stats", dict) twice a second.

Every loss is counted: the model's NaN blocks (silenced, state reset), frames the input ring
overran before the producer read them, silent and unpitched input frames (played as the tracker
holds them), frames the stream ring had no room for.
"""

from __future__ import annotations

import os
import time
from collections import deque
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
TRIM_FADE = 32
PRODUCER_NICE = -5  # above the control process, below the audio server's -10: it feeds the audio in real time
PRODUCER_FIFO = 10  # where allowed, SCHED_FIFO this low (JACK's threads run at 60 and above): it answers within a period


def raise_priority() -> str:
    """The producer answers every audio period: real-time scheduling (SCHED_FIFO, below JACK's own threads) where
    the system allows it, else nice -5. It sleeps in its poll between periods, so it never holds a core.
    Returns what it got, for /status."""
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(PRODUCER_FIFO))
        return f"SCHED_FIFO {PRODUCER_FIFO}"
    except (AttributeError, OSError):
        pass
    try:
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
    slack_blocks: int = 1  # blocks of lead beyond the least that works when the producer is never late (both inputs)

    def as_dict(self) -> dict:
        return asdict(self)


def margin_frames(blocksize: int, hop: int, slack_blocks: int = 0) -> int:
    """How far ahead of the server's reads the pad voice keeps the ring: the block being played, the
    stream voice's fade reserve, one frame of the model (written a frame at a time), and `slack_blocks`
    blocks for a producer the machine holds up."""
    return blocksize + FADE_FRAMES + hop + slack_blocks * blocksize


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
        # Audio input: the lead the ring keeps over the server. The producer writes a hop at a time, after the
        # callback that brought the input (so a period later at best), and the voice wants a block and its fade
        # reserve in hand at every callback: a hop + a block + a fade ahead never runs dry on time, and is the
        # latency it adds (432 samples, 9 ms, at 48 kHz, 5 ms frames, 128-frame periods). `slack_blocks` more
        # blocks let the producer be that much later before the voice has to fade (a busy machine), at that much
        # more latency. A late producer makes the voice fade and wait, which would add that wait to the latency
        # for good: what is written beyond the lead is trimmed back (crossfaded, counted).
        self.blocksize = blocksize
        self.lead = hop + blocksize + FADE_FRAMES + settings.slack_blocks * blocksize
        self.most_ahead = self.lead
        self.trims = 0  # times the audio input's output was trimmed back to most_ahead
        self.trimmed = 0  # samples dropped by those trims
        self._in_ring, self._in_word = state.stream_in, state.stream_in_write
        self._in_read = self._in_word.load()
        self._dry = np.zeros(0, np.float32)  # input samples tracked but not yet voiced (the dry path, aligned to the wet)
        self._gate = 0.0  # the last frame's gate (interpolated across each frame, as the synth's controls)
        self._ramp = np.arange(1, hop + 1, dtype=np.float32) / hop
        self._trim_ramp = np.arange(1, TRIM_FADE + 1, dtype=np.float32) / (TRIM_FADE + 1)
        self.frames = 0
        self.silent_frames = 0  # audio input below SILENT_DB
        self.unpitched_frames = 0  # audio input the tracker was not confident of (pitch held)
        self.input_skipped = 0  # input samples the ring overran before they were read
        self.ring_full = 0  # samples the stream ring had no room for (the stream voice not playing)
        self.compute = deque(maxlen=4096)  # seconds per model-and-synth call, with its frame count
        if settings.input == "audio":
            self._cushion()

    def _cushion(self) -> None:
        """Audio input: start `lead` samples of silence ahead of the server (see __init__)."""
        ahead = self.writer.written - self.state.stream_read.load()
        if self.lead > ahead:
            self.writer.write(np.zeros(self.lead - ahead, np.float32))

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
                self._in_read = self._in_word.load()  # audio from now on, not what the ring held
                self._dry = np.zeros(0, np.float32)
                self.tracker.reset()
                if settings.input == "audio":
                    self._cushion()
            self.settings = settings
            self.lead = self.most_ahead = self.hop + self.blocksize + FADE_FRAMES + settings.slack_blocks * self.blocksize
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

    def compute_ms(self) -> tuple[float, float]:
        """Median and 99th percentile of the model plus synthesis time per frame (ms) over the last 4096 calls."""
        if not self.compute:
            return 0.0, 0.0
        per_frame = np.array([seconds / frames for seconds, frames in self.compute]) * 1000.0
        return float(np.median(per_frame)), float(np.percentile(per_frame, 99))

    def stats(self) -> dict:
        median, p99 = self.compute_ms()
        return {"compute_ms_median": round(median, 4), "compute_ms_p99": round(p99, 4), "frames": self.frames, "nan_frames": self.model.nan_frames, "resets": self.model.resets,
                "silent_frames": self.silent_frames, "unpitched_frames": self.unpitched_frames,
                "input_skipped": self.input_skipped, "ring_full": self.ring_full, "trims": self.trims, "trimmed": self.trimmed}

    # ---- the work ----
    def pump(self) -> int:
        """Produce what is due now; returns the frames (samples) written."""
        if self.settings.input == "audio":
            return self._pump_audio()
        ahead = self.writer.written - self.state.stream_read.load()
        count = (self.margin - ahead) // self.hop
        if count <= 0:
            return 0
        f0, loudness, z, gate = self.pad.frames(count)
        return self._voice(f0, loudness, z, gate, None)

    def _pump_audio(self) -> int:
        written, size = self._in_word.load(), len(self._in_ring)
        available = written - self._in_read
        if available <= 0:
            return 0
        if available > size:  # the producer fell behind by a whole ring: skip to the newest input
            self.input_skipped += available - size
            self._in_read = written - size
            self._dry = np.zeros(0, np.float32)  # the dry path starts again with the tracker, aligned
            self.tracker.reset()
            available = size
        start = self._in_read % size
        first = min(available, size - start)
        block = self._in_ring[start : start + first].copy()
        if available > first:
            block = np.concatenate((block, self._in_ring[: available - first]))
        self._in_read = written
        f0, loudness, confidence = self.tracker.push(block)
        self._dry = np.concatenate((self._dry, block))
        count = len(f0)
        if not count:
            return 0
        silent = loudness < SILENT_DB
        self.silent_frames += int(silent.sum())
        self.unpitched_frames += int(((confidence < 0.5) & ~silent).sum())
        pad = self.pad
        z = np.empty((count, 2), np.float32)
        for i in range(count):  # z follows the pad smoothly, as for notes
            pad.z = pad.target_z + (pad.z - pad.target_z) * pad._z_keep
            z[i] = pad.z
        gate = np.clip((loudness - SILENT_DB) / GATE_DB, 0.0, 1.0).astype(np.float32)
        dry, self._dry = self._dry[: count * self.hop], self._dry[count * self.hop :]
        return self._voice(f0, loudness, z, gate, dry)

    def _trim(self, audio: np.ndarray) -> np.ndarray:
        """Audio input: drop what would put the ring more than most_ahead ahead of the server (at most all but
        TRIM_FADE samples of this chunk), crossfading the cut over TRIM_FADE samples so it never clicks."""
        excess = self.writer.written + len(audio) - self.state.stream_read.load() - self.most_ahead
        drop = min(excess, len(audio) - TRIM_FADE)
        if drop <= 0:
            return audio
        self.trims += 1
        self.trimmed += drop
        kept = audio[drop:].copy()
        ramp = self._trim_ramp
        kept[:TRIM_FADE] = kept[:TRIM_FADE] * ramp + audio[:TRIM_FADE] * (1.0 - ramp)
        return kept

    def _voice(self, f0, loudness, z, gate, dry) -> int:
        began = time.perf_counter()
        amplitude, harmonics, noise = self.model.run(f0, loudness, z)
        audio = self.synth.render(f0, amplitude, harmonics, noise)
        count = len(f0)
        previous = np.concatenate(([self._gate], gate[:-1])).astype(np.float32)
        audio *= (previous[:, None] + (gate - previous)[:, None] * self._ramp[None, :]).reshape(-1)
        self._gate = float(gate[-1])
        if dry is not None:
            mix = self.settings.mix
            audio = mix * audio + (1.0 - mix) * dry
            audio = self._trim(audio)
        self.compute.append((time.perf_counter() - began, count))
        self.frames += count
        taken = self.writer.write(audio.astype(np.float32, copy=False))
        self.ring_full += len(audio) - taken
        return taken


def producer_main(fd, layout: dict, folder: str, sample_rate: int, blocksize: int, settings: dict, conn) -> None:
    """The producer process: load the model, answer ready (or the problem), then produce until the pipe closes."""
    from liveengine.decoders.stream_model import StreamModel
    from liveengine.errors import LiveEngineError
    from liveengine.server.layout import Layout

    priority = raise_priority()
    state = SharedState.attach(fd, Layout(**layout))
    try:
        model = StreamModel(folder, threads=1)
        producer = StreamProducer(state, model, sample_rate, blocksize, StreamSettings(**settings))
    except LiveEngineError as exc:
        conn.send(("ready", str(exc)))
        return
    conn.send(("ready", ""))
    parent = os.getppid()
    next_stats = time.monotonic() + STATS_SECONDS
    try:
        while True:
            while conn.poll(0 if producer.pump() else POLL_SECONDS):
                producer.handle(conn.recv())
            if time.monotonic() >= next_stats:
                next_stats += STATS_SECONDS
                conn.send(("stats", {**producer.stats(), "priority": priority}))
                if os.getppid() != parent:
                    return
    except (EOFError, BrokenPipeError, OSError):
        return  # the control process closed the pipe or died
