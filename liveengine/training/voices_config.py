"""What the streaming voice model is trained on and at: instruments, their z points, rates and sizes.

Shared by scripts/build_voice_data.py, the trainer (voices_train.py), the export and the bench, so
that data, model and metadata agree.
"""

from __future__ import annotations

import math

SAMPLE_RATE = 16000       # training rate of `voices`; the synth renders the controls at the server's rate
RATES = (16000, 32000)    # 32 kHz: `voices2`, which learns up to 16 kHz
FRAME_RATE = 200          # 5 ms frames
HOP = SAMPLE_RATE // FRAME_RATE
N_HARMONICS = 64
# 16 noise bands, roughly mel-spaced, up to the training Nyquist
BAND_EDGES_HZ = (0.0, 150.0, 300.0, 450.0, 650.0, 850.0, 1100.0, 1400.0, 1750.0, 2150.0, 2650.0, 3250.0,
                 4000.0, 4850.0, 5850.0, 6900.0, 8000.0)
# above 8 kHz at 32 kHz: 4 more bands (the first 16 keep their edges, so a 16 kHz model warm-starts band for band)
UPPER_EDGES_HZ = (9500.0, 11300.0, 13500.0, 16000.0)


def hop(sample_rate: int) -> int:
    """Samples per 5 ms frame at `sample_rate`."""
    return sample_rate // FRAME_RATE


def band_edges(sample_rate: int) -> tuple[float, ...]:
    """The noise bands' edges up to the Nyquist of a training rate in RATES."""
    if sample_rate not in RATES:
        raise ValueError(f"training rate {sample_rate} Hz is not one of {', '.join(map(str, RATES))}")
    return BAND_EDGES_HZ + (UPPER_EDGES_HZ if sample_rate == 32000 else ())
F0_RANGE_HZ = (50.0, 2000.0)        # the tracker's search range for labels
LOUDNESS_RANGE_DB = (-100.0, 0.0)   # the tracker's floor to full scale

# name: (General MIDI program in FluidR3_GM, lowest MIDI note, highest MIDI note)
INSTRUMENTS = {
    "violin": (40, 55, 88),
    "cello": (42, 36, 72),
    "trumpet": (56, 54, 82),
    "clarinet": (71, 50, 86),
    "flute": (73, 60, 93),
    "choir": (52, 48, 76),
}


def instrument_points(radius: float = 0.8) -> dict[str, tuple[float, float]]:
    """Each instrument's z: evenly round a circle of `radius` in the [-1, 1] XY plane, neighbours in
    family order (strings, brass, reeds, flute, voices), so moving between neighbours is a short walk."""
    names = list(INSTRUMENTS)
    return {name: (round(radius * math.cos(2 * math.pi * i / len(names) + math.pi / 2), 4),
                   round(radius * math.sin(2 * math.pi * i / len(names) + math.pi / 2), 4))
            for i, name in enumerate(names)}
