"""The pad voice's controls, frame by frame: notes set pitch and loudness, the XY pad moves z.

Monophonic, last note wins: a note played while another is held glides to it (portamento, in
log frequency); releasing it returns to the note still held, if any. An attack/release envelope
(linear, in amplitude) scales the loudness the model is asked for and, as a gate, the audio it
makes, so a released note ends in silence whatever the model does at low loudness. z follows
the pad through a one-pole smoother (SMOOTH_MS), so a jump on the pad never jumps the timbre
inside a frame. Producer process only; not thread-safe.
"""

from __future__ import annotations

import math

import numpy as np

SMOOTH_MS = 20.0
VELOCITY_DB = 36.0  # velocity 1 asks for the top of the model's loudness range, velocity 0 this much below it


def midi_hz(pitch: float) -> float:
    return 440.0 * 2.0 ** ((pitch - 69.0) / 12.0)


class PadVoice:
    def __init__(self, frame_rate: float, loudness_range_db: tuple[float, float], portamento_ms: float = 40.0,
                 attack_ms: float = 10.0, release_ms: float = 150.0, pitch_range: tuple[int, int] = (36, 96)) -> None:
        self.frame_ms = 1000.0 / frame_rate
        self.low_db, self.high_db = loudness_range_db
        self.pitch_range = pitch_range
        self.set_shape(portamento_ms, attack_ms, release_ms)
        self._z_keep = math.exp(-self.frame_ms / SMOOTH_MS)
        self.held: list[tuple[int, float]] = []  # (pitch, velocity), the last played last
        self.target_pitch = 60.0
        self.pitch = 60.0  # current, gliding towards target (MIDI pitch, fractional)
        self.velocity = 0.0
        self.envelope = 0.0  # 0..1, linear amplitude
        self.target_z = np.zeros(2)
        self.z = np.zeros(2)

    def set_shape(self, portamento_ms: float, attack_ms: float, release_ms: float) -> None:
        self._glide_keep = math.exp(-self.frame_ms / portamento_ms) if portamento_ms > 0 else 0.0
        self._attack_step = self.frame_ms / max(attack_ms, self.frame_ms)
        self._release_step = self.frame_ms / max(release_ms, self.frame_ms)

    def note_on(self, pitch: int, velocity: float) -> None:
        """A note (MIDI pitch, clamped into pitch_range; velocity 0..1; 0 is a note-off)."""
        if velocity <= 0.0:
            self.note_off(pitch)
            return
        pitch = min(max(int(pitch), self.pitch_range[0]), self.pitch_range[1])
        legato = bool(self.held) and self.envelope > 0.0
        self.held = [h for h in self.held if h[0] != pitch] + [(pitch, float(velocity))]
        self.target_pitch, self.velocity = float(pitch), float(velocity)
        if not legato:
            self.pitch = float(pitch)  # a new phrase starts on its note; only legato notes glide

    def note_off(self, pitch: int | None = None) -> None:
        """Release `pitch` (None: every note). The voice returns to a note still held, else releases."""
        if pitch is None:
            self.held.clear()
        else:
            pitch = min(max(int(pitch), self.pitch_range[0]), self.pitch_range[1])
            self.held = [h for h in self.held if h[0] != pitch]
        if self.held:
            self.target_pitch, self.velocity = float(self.held[-1][0]), self.held[-1][1]

    def xy(self, x: float, y: float) -> None:
        self.target_z[:] = (x, y)

    def panic(self) -> None:
        """Silence and start again: no notes, the envelope closed, z at the pad's point (no glide in from elsewhere)."""
        self.held.clear()
        self.envelope = 0.0
        self.z[:] = self.target_z

    def frames(self, count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The next `count` frames: f0 Hz [count], loudness dB [count], z [count, 2], gate (the envelope) [count]."""
        f0 = np.empty(count, np.float32)
        loudness = np.empty(count, np.float32)
        z = np.empty((count, 2), np.float32)
        gate = np.empty(count, np.float32)
        on = bool(self.held)
        peak_db = self.high_db - VELOCITY_DB * (1.0 - self.velocity)
        for i in range(count):
            self.pitch = self.target_pitch + (self.pitch - self.target_pitch) * self._glide_keep
            if on:
                self.envelope = min(1.0, self.envelope + self._attack_step)
            else:
                self.envelope = max(0.0, self.envelope - self._release_step)
            self.z = self.target_z + (self.z - self.target_z) * self._z_keep
            f0[i] = midi_hz(self.pitch)
            loudness[i] = max(self.low_db, peak_db + 20.0 * math.log10(max(self.envelope, 1e-6)))
            z[i] = self.z
            gate[i] = self.envelope
        return f0, loudness, z, gate
