"""Pattern models (liveengine.kind = "pattern", docs/model-contract.md): latent point <-> drum pattern.

Checked at load like the one-shot kind: metadata, graph inputs and outputs, and one decode of
the latent mean whose shapes and ranges must be what the metadata declares. Every failure is one
ModelError naming the model, what was found and what the contract expects.
"""

from __future__ import annotations

import json
import math
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from liveengine.decoders.contract import PREFIX, ModelError, _shown, kind_metadata, model_identity
from liveengine.decoders.onnx_decoder import _check_io, _runtime_reason, _session

PATTERN_REQUIRED = ("contract", "kind", "latent_dim", "steps", "voices", "steps_per_beat")
PATTERN_OUTPUTS = ("hits", "velocities", "offsets")
RANGES = {"hits": (0.0, 1.0), "velocities": (0.0, 1.0), "offsets": (-0.5, 0.5)}
TOLERANCE = 1e-4  # float rounding at the ends of a sigmoid or tanh


@dataclass(frozen=True)
class PatternInfo:
    folder: Path
    name: str
    latent_dim: int
    steps: int
    voices: tuple[str, ...]
    steps_per_beat: int
    latent_mean: tuple[float, ...] = ()
    latent_axes: tuple[tuple[float, ...], ...] = ()
    latent_spreads: tuple[float, ...] = ()
    description: str = ""
    identity: str = ""


def read_pattern_metadata(folder: Path, props: dict[str, str]) -> PatternInfo:
    """Check a pattern decoder's metadata_props against the contract and return them typed."""
    where, meta, integer = kind_metadata(folder, props, "pattern", PATTERN_REQUIRED, "a groove")

    def numbers(key: str, value) -> tuple[float, ...]:
        if not isinstance(value, list) or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value):
            raise ModelError(f"{where}: metadata {PREFIX}{key} = {_shown(meta[key])}; expected a JSON list of numbers.")
        return tuple(float(v) for v in value)

    def parsed(key: str):
        try:
            return json.loads(meta[key])
        except ValueError:
            raise ModelError(f"{where}: metadata {PREFIX}{key} = {_shown(meta[key])} is not JSON; see docs/model-contract.md.") from None

    latent_dim = integer("latent_dim", 1, 4096)
    steps = integer("steps", 1, 1024)
    steps_per_beat = integer("steps_per_beat", 1, 48)
    voices = parsed("voices")
    if (not isinstance(voices, list) or not voices or not all(isinstance(v, str) and v for v in voices)
            or len(set(voices)) != len(voices)):
        raise ModelError(f"{where}: metadata {PREFIX}voices = {_shown(meta['voices'])}; expected a JSON list of distinct voice names.")
    fields: dict = {}
    if "latent.mean" in meta:
        fields["latent_mean"] = numbers("latent.mean", parsed("latent.mean"))
        if len(fields["latent_mean"]) != latent_dim:
            raise ModelError(f"{where}: metadata {PREFIX}latent.mean has {len(fields['latent_mean'])} numbers; expected {latent_dim} (latent_dim).")
    if "latent.axes" in meta:
        axes = parsed("latent.axes")
        if not isinstance(axes, list) or len(axes) < 2 or not all(isinstance(a, list) and len(a) == latent_dim for a in axes):
            raise ModelError(f"{where}: metadata {PREFIX}latent.axes = {_shown(meta['latent.axes'])}; "
                             f"expected a JSON list of at least 2 lists of {latent_dim} numbers.")
        fields["latent_axes"] = tuple(numbers("latent.axes", a) for a in axes)
    if "latent.spreads" in meta:
        fields["latent_spreads"] = numbers("latent.spreads", parsed("latent.spreads"))
        if len(fields["latent_spreads"]) < len(fields.get("latent_axes", ())):
            raise ModelError(f"{where}: metadata {PREFIX}latent.spreads has fewer entries than latent.axes.")
    return PatternInfo(folder=folder, name=meta.get("name", folder.name), latent_dim=latent_dim, steps=steps, voices=tuple(voices),
                       steps_per_beat=steps_per_beat, description=meta.get("description", ""), identity=model_identity(folder), **fields)


def _metadata_of(session, where: str) -> dict[str, str]:
    try:
        return session.get_modelmeta().custom_metadata_map
    except UnicodeDecodeError:
        raise ModelError(f"{where}: decoder.onnx's metadata is not UTF-8 text, so the file is damaged; "
                         "expected the liveengine.* keys of docs/model-contract.md.", "Copy or export the model again.") from None


class PatternModel:
    """A pattern model folder: decode latent points to patterns, and (with encoder.onnx) encode patterns.

    decode/encode may be called from any thread but the audio thread; one lock serialises them.
    """

    def __init__(self, folder: Path, threads: int = 1) -> None:
        folder = Path(folder)
        where = f"model {folder.name}"
        self.where = where
        if not folder.is_dir():
            raise ModelError(f"{where}: {folder} is not a folder; a model is a folder with decoder.onnx in it.")
        self.session = _session(folder / "decoder.onnx", threads, where)
        self.info = read_pattern_metadata(folder, _metadata_of(self.session, where))
        info = self.info
        self.name, self.identity, self.latent_dim = info.name, info.identity, info.latent_dim
        self.steps, self.voices, self.steps_per_beat = info.steps, info.voices, info.steps_per_beat
        shape = {1: info.steps, 2: len(info.voices)}
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if len(inputs) != 1:
            raise ModelError(f"{where}: decoder.onnx has {len(inputs)} inputs ({', '.join(i.name for i in inputs)}); expected one, 'z'.")
        _check_io(where, "decoder input", inputs[0], "z", 2, {1: info.latent_dim})
        names = sorted(o.name for o in outputs)
        if names != sorted(PATTERN_OUTPUTS):
            raise ModelError(f"{where}: decoder.onnx outputs {names}; a pattern decoder outputs {', '.join(repr(n) for n in PATTERN_OUTPUTS)}.")
        for output in outputs:
            _check_io(where, "decoder output", output, output.name, 3, shape)
        self._lock = threading.Lock()
        self.encoder = None
        if (folder / "encoder.onnx").exists():
            self.encoder = _session(folder / "encoder.onnx", threads, where)
            enc_inputs = sorted(i.name for i in self.encoder.get_inputs())
            if enc_inputs != sorted(PATTERN_OUTPUTS):
                raise ModelError(f"{where}: encoder.onnx inputs {enc_inputs}; a pattern encoder takes {', '.join(repr(n) for n in PATTERN_OUTPUTS)}.")
            for got in self.encoder.get_inputs():
                _check_io(where, "encoder input", got, got.name, 3, shape)
            enc_outputs = self.encoder.get_outputs()
            if len(enc_outputs) != 1:
                raise ModelError(f"{where}: encoder.onnx has {len(enc_outputs)} outputs; a pattern encoder has one, 'z'.")
            _check_io(where, "encoder output", enc_outputs[0], "z", 2, {1: info.latent_dim})
        self._check_at_mean()

    @property
    def latent_mean(self) -> np.ndarray:
        return np.asarray(self.info.latent_mean or [0.0] * self.latent_dim, np.float32)

    def _check_at_mean(self) -> None:
        hits, velocities, offsets = self._run(np.repeat(self.latent_mean[None, :], 2, axis=0))
        for name, value in zip(PATTERN_OUTPUTS, (hits, velocities, offsets)):
            expected = (2, self.steps, len(self.voices))
            if value.shape != expected:
                raise ModelError(f"{self.where}: decoder output {name!r} has shape {list(value.shape)} at the latent mean; "
                                 f"expected {list(expected)} ([batch, steps, voices] from the metadata).")
            low, high = RANGES[name]
            if not np.all(np.isfinite(value)):
                raise ModelError(f"{self.where}: decoder output {name!r} holds NaN or infinity at the latent mean; expected numbers from {low} to {high}.")
            if value.min() < low - TOLERANCE or value.max() > high + TOLERANCE:
                raise ModelError(f"{self.where}: decoder output {name!r} runs from {value.min():.3g} to {value.max():.3g} at the latent mean; "
                                 f"the contract allows {low} to {high}.")
        if self.encoder is not None:
            z = self.encode((hits >= 0.5).astype(np.float32), velocities, offsets)
            if z.shape != (2, self.latent_dim) or not np.all(np.isfinite(z)):
                raise ModelError(f"{self.where}: encoder.onnx gives {list(z.shape)} (finite: {bool(np.all(np.isfinite(z)))}) "
                                 f"for two patterns; expected finite z of shape [2, {self.latent_dim}].")

    def _run(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        with self._lock:
            try:
                out = self.session.run(list(PATTERN_OUTPUTS), {"z": z})
            except Exception as exc:  # noqa: BLE001 - onnxruntime raises several types; one clause for the report
                raise ModelError(f"{self.where}: decoder.onnx failed to run ({_runtime_reason(exc)}).") from None
        return tuple(np.asarray(o, np.float32) for o in out)

    def decode(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """z float32 [batch, latent_dim] -> hit probabilities, velocities, offsets, each float32 [batch, steps, voices].

        Values are clipped into the contract's ranges and NaN becomes 0 (no hit), so a point the
        model handles badly plays fewer hits instead of garbage.
        """
        z = np.ascontiguousarray(z, dtype=np.float32)
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"{self.name} decodes z[batch, {self.latent_dim}]; got shape {z.shape}")
        out = self._run(z)
        for name, value in zip(PATTERN_OUTPUTS, out):
            np.nan_to_num(value, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
            np.clip(value, *RANGES[name], out=value)
        return out

    def encode(self, hits: np.ndarray, velocities: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        """Patterns (each float32 [batch, steps, voices], hits 0/1) -> posterior means, float32 [batch, latent_dim]."""
        if self.encoder is None:
            raise ModelError(f"{self.where}: has no encoder.onnx, so it cannot place MIDI grooves; a pattern model folder with encoder.onnx can.")
        feed = {name: np.ascontiguousarray(value, dtype=np.float32) for name, value in zip(PATTERN_OUTPUTS, (hits, velocities, offsets))}
        with self._lock:
            try:
                (z,) = self.encoder.run(["z"], feed)
            except Exception as exc:  # noqa: BLE001
                raise ModelError(f"{self.where}: encoder.onnx failed to run ({_runtime_reason(exc)}).") from None
        return np.asarray(z, np.float32)
