"""Load a model once in a throwaway process before the instrument's own process loads it.

onnxruntime aborts the whole process on some damaged graphs (a C++ assertion, SIGABRT, seen for one
flipped byte of the drum model's decoder.onnx): no Python error to catch. A live `/patch` with such a
file would end the show, so a new model is first loaded where its crash costs nothing; a crash is
one sentence and the old patch keeps playing. Builtin models load no file and skip this. The encoder
loads last: a model whose encoder.onnx alone kills the runtime still plays its pads, and is refused
only what needs the encoder (corner files, a library), in one sentence, without another trial.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

from liveengine.decoders.contract import files_digest
from liveengine.errors import LiveEngineError

# Every file, the encoder last (it loads on first use in the instrument's process): a crash after PLAYS is the encoder's
# alone, and the model still plays its pads.
PLAYS = "liveengine-trial: plays"
_LOAD = ("import json, sys; from pathlib import Path; from liveengine.decoders.registry import load_decoder; "
         "spec, where, options = json.loads(sys.argv[1]); model = load_decoder(spec, Path(where) if where else None, **options); "
         f"print({PLAYS!r}, flush=True); getattr(model, 'encoder', None)")


# Model folder -> contract.files_digest of its .onnx files (the derived gradient graph too, unlike the model's identity:
# it loads in the same process and could be the damaged file) when it last loaded without killing a process.
_LOADED: dict[Path, str] = {}
# The same, for folders whose every file was loaded in a trial child, with what killed it loading the encoder ("" when
# nothing): an in-process load (remember) leaves the encoder for its first use, so a model played from the start has
# its encoder tried in a child then (guard_encoder), and one whose encoder kills the runtime is refused for encoding only.
_TRIED: dict[Path, tuple[str, str]] = {}


def remember(decoder) -> None:
    """A model that has loaded in this process: its files, while unchanged, need no trial again, so a switch back to
    a patch played earlier costs the load alone (the child's start and load, 1.8 s for the drum model, spared)."""
    folder = getattr(decoder, "folder", None)
    if folder is not None:
        _LOADED[Path(folder).resolve()] = files_digest(folder)


# A process killed by one of these while loading crashed in the runtime; any other signal (SIGKILL from the kernel's
# out-of-memory killer, a Ctrl-C to the process group) says nothing about the files.
CRASHES = {signal.SIGABRT, signal.SIGSEGV, signal.SIGBUS, signal.SIGILL, signal.SIGFPE}


def load_in_child(spec: str, patch_path: Path | None, model_options: dict, timeout: float = 120.0, force: bool = False) -> str:
    """Raise LiveEngineError if loading the model kills the process that loads it before its pads' files have loaded.
    Returns what went wrong loading its encoder after them ("" when nothing did): the pads play, encoding is refused. A
    model that merely fails to load is left to the caller's own load, which says why in one sentence. A model folder
    that loaded before with the same files (remember, or a trial here) is not tried again unless `force`."""
    if spec.startswith("builtin:"):
        return ""
    from liveengine.decoders.registry import find_model

    try:
        folder = find_model(spec, patch_path)
        files = files_digest(folder) if folder is not None else ""
    except (LiveEngineError, OSError):  # not found or unreadable: the child's load, then the caller's, say why
        folder, files = None, ""
    if folder is not None and not force and _LOADED.get(folder.resolve()) == files:
        tried, crash = _TRIED.get(folder.resolve(), ("", ""))
        return crash if tried == files else ""
    args = json.dumps([spec, str(patch_path) if patch_path else None, model_options])
    try:
        done = subprocess.run([sys.executable, "-c", _LOAD, args], capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired as late:
        if PLAYS in (late.stdout or b"").decode(errors="replace"):  # the encoder hung: not kept, the next use tries again
            return f"model {spec}: encoder.onnx did not finish loading in {timeout:g} s, so it cannot encode now."
        raise LiveEngineError(f"model {spec} did not finish loading in {timeout:g} s.", "Check the model file, or export it again.") from None
    crash = ""
    if done.returncode < 0:
        try:
            name = signal.Signals(-done.returncode).name
        except ValueError:
            name = f"signal {-done.returncode}"
        if PLAYS not in done.stdout.decode(errors="replace") or -done.returncode not in CRASHES:
            raise LiveEngineError(f"model {spec} crashes the ONNX runtime while loading ({name}): the file is damaged."
                                  if -done.returncode in CRASHES else f"model {spec}: its trial load was killed ({name}).",
                                  "Copy or export the model again." if -done.returncode in CRASHES else "Try again.")
        crash = f"model {spec}: encoder.onnx crashes the ONNX runtime while loading ({name}): the file is damaged, so it cannot encode."
    if folder is not None:
        _TRIED[folder.resolve()] = (files, crash)  # an encoder it refused without crashing is the instrument's own load's to say
        if done.returncode == 0 or crash:
            _LOADED[folder.resolve()] = files  # everything the pads need loads
    return crash


def guard_encoder(decoder, spec: str, patch_path: Path | None, model_options: dict, skip=lambda: False) -> None:
    """Before `decoder`'s encoder.onnx first loads in this process (a corner file, a library), load the model with every
    file in a throwaway process, unless one already has: its crash is then an error for what needed it, not the show's
    end. Where `skip()` (the engine's start, building its first instrument) no child is started: a crash there ends the
    start, as one loading its model does; a crash a trial already found is said all the same."""
    folder = getattr(decoder, "folder", None)
    if folder is None or not hasattr(decoder, "before_encoder_load"):
        return

    def trial() -> None:
        files = files_digest(folder)
        tried, crash = _TRIED.get(Path(folder).resolve(), ("", ""))
        if tried != files and not skip():
            crash = load_in_child(spec, patch_path, model_options, force=True)
        if crash:
            raise LiveEngineError(crash, "Copy or export the model again.")
    decoder.before_encoder_load = trial
