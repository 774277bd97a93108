"""The voice pool: fixed slots playing rendered one-shot buffers into a mono mix.

Runs on the audio thread. Every array it touches is allocated in __init__; a
block's work is a few numpy calls per sounding voice writing into preallocated
scratch. Voices start at a frame offset inside the block (sample-accurate).
"""

from __future__ import annotations

import numpy as np

ENVELOPE_HOP = 256  # frames per entry of a buffer's level envelope (see render.buffers)



def velocity_gain(velocity: float, curve: float) -> float:
    """The one velocity curve: MIDI and OSC pass velocities (0..1) through; this shapes them."""
    return float(velocity) ** curve

class Voice:
    __slots__ = ("samples", "envelope", "pos", "gain", "offset", "fade", "fade_offset", "choke", "pad", "age", "slot")

    def __init__(self) -> None:
        self.samples = None  # float32[n] at the device rate
        self.envelope = None  # float32 level per ENVELOPE_HOP frames, for "quietest" stealing
        self.pos = 0  # next frame of `samples` to play
        self.gain = 0.0
        self.offset = 0  # frames to wait inside the current block before starting
        self.fade = -1  # -1: not fading; else index into the fade-out ramp
        self.fade_offset = 0  # frame inside the current block where the fade begins
        self.choke = -1  # choke group index, -1 for none
        self.pad = -1
        self.age = 0  # start order, for "oldest" stealing
        self.slot = -1  # the sample-pool slot it plays, -1 for none


class VoicePool:
    """`voices` may sound at once; `release_voices` more slots hold voices fading out.

    A steal or choke moves a voice into its fade (a few ms) and frees its place in
    the polyphony count at once, so the new hit never waits for the fade.
    """

    def __init__(self, voices: int, release_voices: int, blocksize_max: int, fade_frames: int, steal: str,
                 slot_refs: np.ndarray | None = None, pad_voices: np.ndarray | None = None,
                 pad_starts: np.ndarray | None = None) -> None:
        self.polyphony = voices
        # Shared with the control process: how many voices play each pool slot (it frees
        # a slot only at zero) and each pad (its "playing" feedback).
        self.slot_refs = slot_refs if slot_refs is not None else np.zeros(1, np.int32)
        self.pad_voices = pad_voices if pad_voices is not None else np.zeros(1, np.int32)
        self.pad_starts = pad_starts if pad_starts is not None else np.zeros(1, np.int64)
        self.slots = [Voice() for _ in range(voices + release_voices)]
        self.free: list[Voice] = list(self.slots)
        self.sounding: list[Voice] = []  # playing and not fading
        self.fading: list[Voice] = []
        self.steal_quietest = steal == "quietest"
        self.ramp = np.linspace(1.0, 0.0, fade_frames + 1, dtype=np.float32)[1:]
        self.scratch = np.zeros(blocksize_max, dtype=np.float32)
        self.gains = np.zeros(voices, dtype=np.float32)
        self.stacked = np.zeros((voices, blocksize_max), dtype=np.float32)
        self.summed = np.zeros(blocksize_max, dtype=np.float32)
        self.counter = 0
        self.steals = 0
        self.hard_cuts = 0  # a fading voice cut without fade because every slot was busy

    # ---- starting and stopping (audio thread) ----
    def start(self, samples: np.ndarray, envelope: np.ndarray, gain: float, offset: int, pos: int, choke: int, pad: int,
              slot: int = -1) -> None:
        if choke >= 0:
            self.choke_group(choke, offset)
        if len(self.sounding) >= self.polyphony:
            self._begin_fade(self._victim(), offset)
            self.steals += 1
        if not self.free:
            # Every slot is busy: cut the fading voice closest to silence.
            victim = min(self.fading, key=lambda v: len(self.ramp) - v.fade)
            self.fading.remove(victim)
            self._release(victim)
            self.hard_cuts += 1
        voice = self.free.pop()
        voice.samples = samples
        voice.envelope = envelope
        voice.pos = pos
        voice.gain = gain
        voice.offset = offset
        voice.fade = -1
        voice.choke = choke
        voice.pad = pad
        voice.slot = slot
        if 0 <= slot < len(self.slot_refs):
            self.slot_refs[slot] += 1
        if 0 <= pad < len(self.pad_voices):
            self.pad_voices[pad] += 1
        if 0 <= pad < len(self.pad_starts):
            self.pad_starts[pad] += 1
        self.counter += 1
        voice.age = self.counter
        self.sounding.append(voice)

    def _victim(self) -> Voice:
        if self.steal_quietest:
            return min(self.sounding, key=lambda v: v.gain * v.envelope[min(v.pos // ENVELOPE_HOP, len(v.envelope) - 1)])
        return min(self.sounding, key=lambda v: v.age)

    def _begin_fade(self, voice: Voice, offset: int) -> None:
        self.sounding.remove(voice)
        voice.fade = 0
        voice.fade_offset = offset
        self.fading.append(voice)

    def choke_group(self, group: int, offset: int) -> None:
        for voice in [v for v in self.sounding if v.choke == group]:
            self._begin_fade(voice, offset)

    def stop_pad(self, pad: int, offset: int) -> None:
        for voice in [v for v in self.sounding if v.pad == pad]:
            self._begin_fade(voice, offset)

    def fade_all(self, offset: int) -> None:
        for voice in list(self.sounding):
            self._begin_fade(voice, offset)

    @property
    def active(self) -> int:
        return len(self.sounding) + len(self.fading)

    # ---- mixing (audio thread) ----
    def mix_into(self, mix: np.ndarray, frames: int) -> None:
        """Add every voice's next `frames` frames into `mix` (float32[frames], already zeroed).

        Voices that play a whole block unfaded (nearly all of them, nearly always) are
        mixed together: their segments are copied into one preallocated matrix and
        summed with one dot product by their gains, instead of two numpy calls each.
        """
        finished = None
        count = 0
        gains = self.gains
        rows = self.stacked[:, :frames]
        for voice in self.sounding:
            p = voice.pos
            samples = voice.samples
            if voice.offset == 0 and len(samples) - p > frames:
                gains[count] = voice.gain
                rows[count] = samples[p : p + frames]  # a row copy: half np.stack's cost over a list of views
                count += 1
                voice.pos = p + frames
                continue
            try:
                ended = self._play(voice, mix, voice.offset, frames, fade_from=frames)
            except Exception:
                self._drop(voice, self.sounding)
                raise
            if ended:
                finished = finished or []
                finished.append(voice)
        if count:
            summed = self.summed[:frames]
            np.dot(gains[:count], rows[:count], out=summed)
            np.add(mix, summed, out=mix)
        if finished:
            for voice in finished:
                self.sounding.remove(voice)
                self._release(voice)
        finished = None
        for voice in self.fading:
            try:
                ended = self._play(voice, mix, voice.offset, frames, fade_from=max(voice.fade_offset, voice.offset))
            except Exception:
                self._drop(voice, self.fading)
                raise
            if ended:
                finished = finished or []
                finished.append(voice)
        if finished:
            for voice in finished:
                self.fading.remove(voice)
                self._release(voice)

    def _play(self, voice: Voice, mix: np.ndarray, start: int, frames: int, fade_from: int) -> bool:
        """Mix one voice; return True when it has ended. Frames before `fade_from` play at full gain."""
        voice.offset = 0
        voice.fade_offset = 0
        samples = voice.samples
        remaining = len(samples) - voice.pos
        tmp = self.scratch
        # Part 1: unfaded frames in [start, fade_from).
        n = min(fade_from - start, remaining)
        if n > 0:
            p = voice.pos
            np.multiply(samples[p : p + n], voice.gain, out=tmp[:n])
            dst = mix[start : start + n]
            np.add(dst, tmp[:n], out=dst)
            voice.pos += n
            start += n
            remaining -= n
        if voice.fade < 0:
            return remaining <= 0
        # Part 2: fading frames from max(start, fade_from).
        start = max(start, fade_from)
        ramp = self.ramp
        n = min(frames - start, remaining, len(ramp) - voice.fade)
        if n > 0:
            p, f = voice.pos, voice.fade
            np.multiply(samples[p : p + n], ramp[f : f + n], out=tmp[:n])
            np.multiply(tmp[:n], voice.gain, out=tmp[:n])
            dst = mix[start : start + n]
            np.add(dst, tmp[:n], out=dst)
            voice.pos += n
            voice.fade += n
            remaining -= n
        return remaining <= 0 or voice.fade >= len(ramp)

    def _drop(self, voice: Voice, where: list) -> None:
        """Free a voice that failed to mix: left in place it would fail, and silence, every block."""
        where.remove(voice)
        self._release(voice)

    def _release(self, voice: Voice) -> None:
        if 0 <= voice.slot < len(self.slot_refs):
            self.slot_refs[voice.slot] -= 1
        if 0 <= voice.pad < len(self.pad_voices):
            self.pad_voices[voice.pad] -= 1
        voice.slot = -1
        voice.samples = None  # drop the reference here; the buffer is freed by whoever replaced it
        voice.envelope = None
        voice.fade = -1
        self.free.append(voice)
