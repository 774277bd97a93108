"""The model contract: what a model folder holds and what its metadata declares.

See docs/model-contract.md. This module reads and checks the declarations; the
runtime (onnx_decoder.py) loads and runs the graphs.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

from liveengine.errors import LiveEngineError

CONTRACT_VERSION = 1
PREFIX = "liveengine."
KINDS = ("oneshot", "pattern", "stream")
OUTPUTS = ("audio", "stft")
WINDOWS = ("hann",)
REQUIRED = ("contract", "kind", "sample_rate", "latent_dim", "output_length", "output")


class ModelError(LiveEngineError):
    """A model folder or file that does not meet the contract."""


@dataclass(frozen=True)
class ModelInfo:
    folder: Path
    name: str
    sample_rate: int
    latent_dim: int
    output_length: int
    output: str  # "audio" or "stft"
    n_fft: int = 0
    hop: int = 0
    window: str = ""
    classes: tuple[str, ...] = ()
    latent_mean: tuple[float, ...] = ()
    latent_axes: tuple[tuple[float, ...], ...] = ()
    latent_spreads: tuple[float, ...] = ()
    description: str = ""
    identity: str = ""  # sha256 of the model's files, shortened
    earlier_identities: tuple[str, ...] = ()  # identities of this model's earlier files whose points sound the same here
    fit_length: int = 0  # samples a fit compares (liveengine.fit_length): 0 for the whole output

    @property
    def frames(self) -> int:
        """STFT frames: centred frames every `hop` samples (1 + output_length // hop)."""
        return 1 + self.output_length // self.hop if self.hop else 0

    @property
    def bins(self) -> int:
        return self.n_fft // 2 + 1 if self.n_fft else 0


DERIVED = ("decoder_grad.onnx",)  # computed from decoder.onnx, which it names by hash: adds nothing to what the model is


def files_digest(folder: Path, derived: bool = True) -> str:
    """SHA-256 of the folder's .onnx files, names and bytes; without the derived ones unless `derived`."""
    digest = hashlib.sha256()
    for path in sorted(p for p in Path(folder).glob("*.onnx") if derived or p.name not in DERIVED):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def model_identity(folder: Path) -> str:
    """Hash of every .onnx file in the folder (names and bytes) but the derived ones: what a capture or state file
    names. Adding decoder_grad.onnx to a model therefore keeps its state files and captures valid."""
    return files_digest(folder, derived=False)[:16]


def _shown(text: str, limit: int = 60) -> str:
    """A metadata value as an error message quotes it: repr, cut to `limit` characters."""
    return repr(text if len(text) <= limit else text[:limit] + "...")


def _integer_reader(where: str, meta: dict[str, str]):
    """integer(key, low, high): a metadata key read as an integer in range, or one ModelError quoting it."""

    def integer(key: str, low: int, high: int) -> int:
        try:
            value = int(meta[key])
        except ValueError:
            value = None
        if value is None or not low <= value <= high:
            shown = _shown(meta[key]) if value is None else value  # an integer out of range as a number, anything else quoted
            raise ModelError(f"{where}: metadata {PREFIX}{key} = {shown}; expected an integer from {low} to {high}.")
        return value

    return integer


def kind_metadata(folder: Path, props: dict[str, str], kind: str, required: tuple[str, ...], needed_by: str):
    """The checks every non-oneshot kind shares: its kind, the keys it must declare, the contract version.
    Returns (where, meta, integer): the model named for messages, the `liveengine.` keys without the
    prefix, and integer(key, low, high), which reads a key as an integer in range or raises."""
    where = f"model {folder.name}"
    meta = {k[len(PREFIX):]: v for k, v in props.items() if k.startswith(PREFIX)}
    if "kind" in meta and meta["kind"] != kind:
        raise ModelError(f"{where}: metadata {PREFIX}kind = {meta['kind']!r}; {needed_by} needs a {kind} model ({PREFIX}kind = '{kind}').",
                         "Name a oneshot model in the patch's [model] decoder instead.")
    missing = [key for key in required if key not in meta]
    if missing:
        raise ModelError(f"{where}: decoder.onnx metadata lacks {', '.join(PREFIX + k for k in missing)}; "
                         f"a {kind} model declares {', '.join(PREFIX + k for k in required)}.", "See docs/model-contract.md.")
    if meta["contract"] != str(CONTRACT_VERSION):
        raise ModelError(f"{where}: metadata {PREFIX}contract = {meta['contract']!r}; this liveengine reads contract {CONTRACT_VERSION}.")

    return where, meta, _integer_reader(where, meta)


def read_metadata(folder: Path, props: dict[str, str]) -> ModelInfo:
    """Check the decoder's metadata_props against the contract and return them typed."""
    where = f"model {folder.name}"
    meta = {k[len(PREFIX):]: v for k, v in props.items() if k.startswith(PREFIX)}
    if meta.get("kind") == "pattern":
        raise ModelError(f"{where} is a pattern model ({PREFIX}kind = 'pattern'); a sound grid's [model] decoder needs a oneshot model.",
                         "Name a pattern model in the patch's [groove] model instead.")
    if meta.get("kind") == "stream":
        raise ModelError(f"{where} is a stream model ({PREFIX}kind = 'stream'); a sound grid's [model] decoder needs a oneshot model.",
                         "Name a stream model in the patch's [stream] model instead.")
    missing = [key for key in REQUIRED if key not in meta]
    if missing:
        raise ModelError(f"{where}: decoder.onnx metadata lacks {', '.join(PREFIX + k for k in missing)}; "
                         f"the contract requires {', '.join(PREFIX + k for k in REQUIRED)}.", "See docs/model-contract.md.")

    integer = _integer_reader(where, meta)

    def floats(key: str, length: int | None) -> tuple[float, ...]:
        try:
            value = json.loads(meta[key])
            if not isinstance(value, list) or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value):
                raise ValueError
        except ValueError:
            raise ModelError(f"{where}: metadata {PREFIX}{key} = {_shown(meta[key])}; expected a JSON list of numbers.") from None
        if length is not None and len(value) != length:
            raise ModelError(f"{where}: metadata {PREFIX}{key} has {len(value)} numbers; expected {length} (latent_dim).")
        return tuple(float(v) for v in value)

    if meta["contract"] != str(CONTRACT_VERSION):
        raise ModelError(f"{where}: metadata {PREFIX}contract = {meta['contract']!r}; this liveengine reads contract {CONTRACT_VERSION}.")
    if meta["kind"] not in KINDS:
        raise ModelError(f"{where}: metadata {PREFIX}kind = {meta['kind']!r}; this liveengine plays {', '.join(KINDS)}.")
    if meta["output"] not in OUTPUTS:
        raise ModelError(f"{where}: metadata {PREFIX}output = {meta['output']!r}; allowed: {', '.join(OUTPUTS)}.")
    sample_rate = integer("sample_rate", 8000, 192000)
    latent_dim = integer("latent_dim", 1, 4096)
    output_length = integer("output_length", 64, 10 * 192000)
    fields: dict = {}
    if meta["output"] == "stft":
        for key in ("stft.n_fft", "stft.hop", "stft.window"):
            if key not in meta:
                raise ModelError(f"{where}: metadata says output = stft but lacks {PREFIX}{key}; an STFT model names n_fft, hop and window.")
        fields["n_fft"] = integer("stft.n_fft", 16, 16384)
        fields["hop"] = integer("stft.hop", 1, fields["n_fft"])
        if fields["n_fft"] % fields["hop"]:
            raise ModelError(f"{where}: metadata {PREFIX}stft.hop = {fields['hop']} does not divide n_fft = {fields['n_fft']}.")
        if meta["stft.window"] not in WINDOWS:
            raise ModelError(f"{where}: metadata {PREFIX}stft.window = {meta['stft.window']!r}; allowed: {', '.join(WINDOWS)}.")
        fields["window"] = meta["stft.window"]
    if "fit_length" in meta:
        fields["fit_length"] = integer("fit_length", 4096, output_length)
    if "classes" in meta:
        try:
            classes = json.loads(meta["classes"])
            if not isinstance(classes, list) or not classes or not all(isinstance(c, str) and c for c in classes):
                raise ValueError
        except ValueError:
            raise ModelError(f"{where}: metadata {PREFIX}classes = {_shown(meta['classes'])}; expected a JSON list of class names.") from None
        fields["classes"] = tuple(classes)
    if "earlier_identities" in meta:  # a model re-exported with its decoder unchanged: state files saved with it still load
        try:
            earlier = json.loads(meta["earlier_identities"])
            if not isinstance(earlier, list) or not all(isinstance(e, str) and re.fullmatch(r"[0-9a-f]{16}", e) for e in earlier):
                raise ValueError
        except ValueError:
            raise ModelError(f"{where}: metadata {PREFIX}earlier_identities = {_shown(meta['earlier_identities'])}; "
                             "expected a JSON list of 16-digit hex model hashes.") from None
        fields["earlier_identities"] = tuple(earlier)
    if "latent.mean" in meta:
        fields["latent_mean"] = floats("latent.mean", latent_dim)
    if "latent.axes" in meta:
        try:
            axes = json.loads(meta["latent.axes"])
            if not isinstance(axes, list) or len(axes) < 2 or not all(isinstance(a, list) and len(a) == latent_dim for a in axes):
                raise ValueError
            if not all(math.isfinite(float(v)) for a in axes for v in a):
                raise ValueError
            fields["latent_axes"] = tuple(tuple(float(v) for v in a) for a in axes)
        except (ValueError, TypeError):
            raise ModelError(f"{where}: metadata {PREFIX}latent.axes = {_shown(meta['latent.axes'])}; "
                             f"expected a JSON list of at least 2 lists of {latent_dim} numbers.") from None
    if "latent.spreads" in meta:
        fields["latent_spreads"] = floats("latent.spreads", None)
        if len(fields["latent_spreads"]) < len(fields.get("latent_axes", ())):
            raise ModelError(f"{where}: metadata {PREFIX}latent.spreads has fewer entries than latent.axes.")
    return ModelInfo(folder=folder, name=meta.get("name", folder.name), sample_rate=sample_rate, latent_dim=latent_dim,
                     output_length=output_length, output=meta["output"], description=meta.get("description", ""),
                     identity=model_identity(folder), **fields)
