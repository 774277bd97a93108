"""The decoder protocol: the one seam between the engine and any model."""

from __future__ import annotations

from typing import Protocol

import numpy as np


class Decoder(Protocol):
    """A one-shot decoder. Called from render worker threads, never from the audio thread.

    latent_dim: size of a latent point z.
    sample_rate: rate of the audio it writes, in Hz.
    output_length: frames it writes per point.
    name / identity: a display name and a hash of what defines it (files, parameters).
    """

    name: str
    identity: str
    latent_dim: int
    sample_rate: int
    output_length: int
    preferred_batch: int  # pads per decode_into call that keeps the audio callback on time

    def prepare(self, max_batch: int) -> None:
        """Allocate and warm up for batches up to `max_batch`; called before the stream starts."""

    def decode_into(self, z: np.ndarray, out: np.ndarray) -> None:
        """Decode z (float32[batch, latent_dim]) into out (float32[batch, output_length])."""

    def reset(self) -> None:
        """Drop any internal state (one-shot decoders may have none)."""
