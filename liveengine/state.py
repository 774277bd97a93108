"""The engine's live state on disk: what a performer found must survive a crash or a restart.

State is the grid setting (mapping, centre, zoom, rotation, variance, seed), how
many variations each pad has played (so the next hit continues the sequence),
and the captured sounds. It is saved atomically: written to a temporary file,
fsynced, the previous state kept as `NAME.prev.json` (written the same way), then renamed
into place, so at every instant both are complete (or absent). A state saved for another
model (hash) or by a newer liveengine is refused with a clear error: a wrong
sound on stage is worse than none.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from liveengine.atomic_file import write_atomic
from liveengine.errors import LiveEngineError

STATE_VERSION = 1


def save_state(path: Path, state: dict) -> Path:
    data = json.dumps({"version": STATE_VERSION, "saved_at": time.time(), **state}, indent=1).encode()
    return write_atomic(path, data, keep_previous=path.with_name(path.stem + ".prev.json"))


def load_state(path: Path, model_hash: str, earlier: tuple[str, ...] = ()) -> dict:
    """Read a state file and check it belongs to this model (or to `earlier` files of it whose points sound the same)
    and version; LiveEngineError otherwise."""
    try:
        state = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise LiveEngineError(f"no saved state at {path}.", "Play once (state is saved on exit) or name a state saved with /state/save.") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        previous = Path(path).with_name(Path(path).stem + ".prev.json")
        hint = f"The previous state is kept as {previous.name}." if previous.exists() else ""
        raise LiveEngineError(f"state file {path} is unreadable ({exc}); expected a liveengine state (JSON).", hint) from None
    if not isinstance(state, dict) or not isinstance(state.get("version"), int):
        raise LiveEngineError(f"state file {path} has no version; expected a liveengine state (JSON with a 'version').")
    if state["version"] > STATE_VERSION:
        raise LiveEngineError(f"state file {path} is version {state['version']}, from a newer liveengine; this one reads up to version {STATE_VERSION}.",
                              "Update liveengine, or start without --resume.")
    if state.get("model_hash") != model_hash and state.get("model_hash") not in earlier:
        raise LiveEngineError(f"state file {path} was saved with model {state.get('model_hash')}; the patch's model is {model_hash}. "
                              "Its latent points would make different sounds with this model.", "Load the patch it was saved with, or start without --resume.")
    return state
