"""Find the decoder a patch names."""

from __future__ import annotations

import re
from pathlib import Path

from liveengine.decoders.base import Decoder
from liveengine.decoders.test_synth import TestSynthDecoder
from liveengine.errors import LiveEngineError, did_you_mean
from liveengine.resources import models_dir

BUILTIN = {"builtin:testsynth": TestSynthDecoder}


def load_decoder(spec: str, patch_path: Path | None = None, *, threads: int = 1, normalize: str = "peak",
                 decode_only: bool = False) -> Decoder:
    """'builtin:NAME' or a model folder (in models_onnx/, or relative to the patch).

    A model that fails the contract raises ModelError (a LiveEngineError) naming it. `decode_only`: without the
    encoder and fit gradient (OnnxDecoder), for the render process.
    """
    if spec in BUILTIN:
        return BUILTIN[spec]()
    from liveengine.decoders.onnx_decoder import OnnxDecoder

    return OnnxDecoder(find_model(spec, patch_path), threads=threads, normalize=normalize, decode_only=decode_only)


def model_kind(folder: Path) -> str:
    """A shipped model's kind from its decoder's metadata ("oneshot" when it says none), for listing them."""
    try:
        import onnxruntime as ort

        meta = ort.InferenceSession(str(folder / "decoder.onnx"), providers=["CPUExecutionProvider"]).get_modelmeta()
        return meta.custom_metadata_map.get("liveengine.kind", "oneshot")
    except Exception:  # noqa: BLE001 - a broken folder is listed with the sound models; loading it says what is wrong
        return "oneshot"


def by_number(name: str) -> tuple:
    """drums, drums2, ..., drums9, drums10, ..., drums16: a name's digits count as a number."""
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name))


def find_model(spec: str, patch_path: Path | None = None, kind: str = "oneshot") -> Path | None:
    """The model folder `spec` names (next to the patch first, then models_onnx/); None for a builtin.

    LiveEngineError listing the places looked in and the shipped models of `kind` there are, if it is
    none of them ("oneshot": sound decoders and the builtins; "pattern": groove models).
    """
    if spec in BUILTIN:
        return None
    candidates = [models_dir() / spec]
    if patch_path is not None and patch_path.parent / spec not in candidates:  # an absolute spec is one place, not two
        candidates.insert(0, patch_path.parent / spec)
    folder = next((c for c in candidates if c.is_dir()), None)
    if folder is None:
        shipped = sorted((p.name for p in models_dir().iterdir() if p.is_dir() and model_kind(p) == kind), key=by_number) if models_dir().is_dir() else []
        names = (list(BUILTIN) if kind == "oneshot" else []) + shipped
        raise LiveEngineError(
            f"model {spec!r} not found (looked in {', '.join(str(c) for c in candidates)}); "
            f"allowed: {', '.join(names)}, or a model folder's path.",
            did_you_mean(spec, names),
        )
    return folder


def load_pattern_model(spec: str, patch_path: Path | None = None, *, threads: int = 1):
    """The pattern model (liveengine.kind = "pattern") a patch's [groove] model names; ModelError if it breaks the contract."""
    from liveengine.decoders.pattern_model import PatternModel

    folder = find_model(spec, patch_path, kind="pattern")
    if folder is None:
        raise LiveEngineError(f"[groove] model = {spec!r} is a builtin sound decoder; a groove needs a pattern model folder "
                              "(liveengine.kind = 'pattern'), such as 'grooves'.")
    return PatternModel(folder, threads=threads)
