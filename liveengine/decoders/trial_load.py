"""Load a model once in a throwaway process before the instrument's own process loads it.

onnxruntime aborts the whole process on some damaged graphs (a C++ assertion, SIGABRT, seen for one
flipped byte of the drum model's decoder.onnx): no Python error to catch. A live `/patch` with such a
file would end the show, so a new model is first loaded where its crash costs nothing; a crash is
one sentence and the old patch keeps playing. Builtin models load no file and skip this.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

from liveengine.errors import LiveEngineError

_LOAD = ("import json, sys; from pathlib import Path; from liveengine.decoders.registry import load_decoder; "
         "spec, where, options = json.loads(sys.argv[1]); load_decoder(spec, Path(where) if where else None, **options)")


def load_in_child(spec: str, patch_path: Path | None, model_options: dict, timeout: float = 120.0) -> None:
    """Raise LiveEngineError if loading the model kills the process that loads it. A model that merely
    fails to load is left to the caller's own load, which says why in one sentence."""
    if spec.startswith("builtin:"):
        return
    args = json.dumps([spec, str(patch_path) if patch_path else None, model_options])
    try:
        done = subprocess.run([sys.executable, "-c", _LOAD, args], capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise LiveEngineError(f"model {spec} did not finish loading in {timeout:g} s.", "Check the model file, or export it again.") from None
    if done.returncode < 0:
        try:
            name = signal.Signals(-done.returncode).name
        except ValueError:
            name = f"signal {-done.returncode}"
        raise LiveEngineError(f"model {spec} crashes the ONNX runtime while loading ({name}): the file is damaged.",
                              "Copy or export the model again.")
