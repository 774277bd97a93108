"""The engine's live state on disk: what a performer found must survive a crash or a restart.

State is the grid setting (mapping, centre, zoom, rotation, variance, seed), how
many variations each pad has played (so the next hit continues the sequence),
and the captured sounds. It is saved atomically: written to a temporary file,
fsynced, the previous state kept as `NAME.prev.json` (written the same way), then renamed
into place, so at every instant both are complete (or absent). A damaged file is never kept
as the previous state (it would replace the last good one): it is set apart as
`NAME.unreadable.json`. A new session (`play` without `--resume`) keeps the last session's
autosave as `autosave-<when it was saved, to the ms>.json` at its first save over it (the newest
SESSIONS_KEPT of them; nothing is kept twice, nor what the new save holds too). A state saved for another
model (hash) or by a newer liveengine is refused with a clear error: a wrong
sound on stage is worse than none.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from liveengine.atomic_file import write_atomic
from liveengine.errors import LiveEngineError

STATE_VERSION = 1
SESSIONS_KEPT = 10  # the last sessions' autosaves kept by keep_last_session; named saves are never removed


def previous_of(path: Path) -> Path:
    return Path(path).with_name(Path(path).stem + ".prev.json")


def _saved(path: Path) -> dict | None:
    """The state in `path` if it reads as one (JSON with a version), else None."""
    try:
        state = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return state if isinstance(state, dict) and isinstance(state.get("version"), int) else None


def save_state(path: Path, state: dict) -> Path:
    path = Path(path)
    data = json.dumps({"version": STATE_VERSION, "saved_at": time.time(), **state}, indent=1).encode()
    if path.exists() and _saved(path) is None:
        os.replace(path, path.with_name(path.stem + ".unreadable.json"))  # never the kept previous state: set apart
    return write_atomic(path, data, keep_previous=previous_of(path))


def _found(state: dict) -> dict:
    """What a state holds, less when it was saved: two sessions that found the same hold the same."""
    return {k: v for k, v in state.items() if k not in ("saved_at", "version")}


def keep_last_session(folder: Path, name: str = "autosave", new: dict | None = None) -> str | None:
    """Before a new session saves `new` over NAME.json: the state there kept as NAME-<its saved time>.json, the newest
    SESSIONS_KEPT of those kept; returns the kept name. None: nothing readable to keep, or nothing that would be lost
    (it holds what `new` does, or what the newest kept one does: a start that changed nothing keeps nothing)."""
    path = Path(folder) / f"{name}.json"
    saved = _saved(path)
    if saved is None or not isinstance(saved.get("saved_at"), (int, float)):
        return None  # none, or damaged: save_state sets that apart
    kept_ones = sorted(Path(folder).glob(f"{name}-{'[0-9]' * 8}-{'[0-9]' * 6}-{'[0-9]' * 3}.json"))
    newest = _saved(kept_ones[-1]) if kept_ones else None
    if (new is not None and _found(saved) == _found(new)) or (newest is not None and _found(newest) == _found(saved)):
        return None
    when = float(saved["saved_at"])
    kept = f"{name}-{time.strftime('%Y%m%d-%H%M%S', time.localtime(when))}-{int(when * 1000) % 1000:03d}"  # two a second apart
    write_atomic(Path(folder) / f"{kept}.json", path.read_bytes())
    for old in sorted([*kept_ones, Path(folder) / f"{kept}.json"])[:-SESSIONS_KEPT]:
        old.unlink(missing_ok=True)
    return kept


def load_state(path: Path, model_hash: str, earlier: tuple[str, ...] = ()) -> dict:
    """Read a state file and check it belongs to this model (or to `earlier` files of it whose points sound the same)
    and version; LiveEngineError otherwise."""
    try:
        state = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise LiveEngineError(f"no saved state at {path}.", "Play once (state is saved on exit) or name a state saved with /state/save.") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        previous = previous_of(path)
        hint = (f"The previous state is kept as {previous.name}: resume it with --resume {previous.stem}."
                if _saved(previous) is not None else "")
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
