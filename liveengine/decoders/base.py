"""The decoder protocol: the one seam between the engine and any model."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from liveengine.errors import LiveEngineError

SILENCE = 10 ** (-80 / 20)  # a decoded sound whose peak is below -80 dBFS plays nothing


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


class Encoder(Protocol):
    """Optional capability: sound -> latent point. Check with `getattr(decoder, "can_encode", False)`.

    OnnxDecoder has it when its folder holds encoder.onnx; builtin:testsynth does not (a
    synthesiser has no inverse, and a feature encoder posing as one would put a sound's
    "encoding" where the synth makes something else).
    """

    can_encode: bool

    def encode(self, audio: np.ndarray) -> np.ndarray:
        """float32[batch, samples] mono at sample_rate -> latent means float32[batch, latent_dim].

        Rows are cropped or zero-padded to output_length and peak-normalised first. Raises
        ModelError naming the model when it has no encoder. Not for the audio thread.
        """


def require_encoder(decoder, needed_for: str, fix: str) -> None:
    """LiveEngineError naming what needed an encoder and the model that lacks one, unless it can encode.

    Checked before any file is read, so a model without encoder.onnx is refused quickly and
    in the same words wherever sounds are placed in latent space (corner anchors, libraries).
    """
    if not getattr(decoder, "can_encode", False):
        raise LiveEngineError(f"{needed_for} needs a model with an encoder to place sounds in its latent space; "
                              f"model {decoder.name} has no encoder.onnx.", fix)


class Classifier(Protocol):
    """Optional capability: latent point -> class probabilities. Check with `getattr(decoder, "can_classify", False)`."""

    can_classify: bool

    @property
    def classes(self) -> tuple[str, ...]:
        """Class names, one per column of classify(); ModelError when the model has no classifier."""

    def classify(self, z: np.ndarray) -> np.ndarray:
        """float32[batch, latent_dim] -> float32[batch, len(classes)], rows summing to 1."""


class Fitter(Protocol):
    """Optional capability: sound -> the latent point whose decoded sound is nearest it, by analysis by synthesis from the
    encoder's mean (liveengine/decoders/fit.py). Check with `getattr(decoder, "can_fit", False)`; OnnxDecoder has it when
    its folder holds encoder.onnx and decoder_grad.onnx. grid.anchors.place_sounds uses it for files a performer brings."""

    can_fit: bool

    def fit(self, audio: np.ndarray, steps: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """float32[batch, samples] -> (points float32[batch, latent_dim], distance at the encoder's mean, at the point)."""
