"""MIDI learn: bind the next control that moves to a parameter, and write it into the patch.

The patch is edited with tomlkit, so the user's comments, order and spacing stay as
they were; only `[midi.cc]` gains or changes a line. The write is atomic: a temporary
file in the same folder is written, flushed and fsynced, checked by loading it as a
patch, and renamed over the original, after the old file was copied to `NAME.toml.bak`.
A patch shipped with liveengine is never written: a user copy goes to the user patch
folder (`user_patches_dir()`), and the caller is told where.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from liveengine.atomic_file import write_atomic
from liveengine.errors import LiveEngineError
from liveengine.resources import patches_dir, user_patches_dir



def is_shipped(path: Path) -> bool:
    """True for the package's own patches (installed or in the source checkout's patches/)."""
    try:
        path.resolve().relative_to(patches_dir().resolve())
        return True
    except ValueError:
        return False


def _user_copy(path: Path) -> Path:
    """Copy a shipped patch (and the demo score it names) into the user folder; never replace a user's file."""
    folder = user_patches_dir()
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / path.name
    if not target.exists():
        shutil.copy2(path, target)
        from liveengine.patch import load_patch

        score = load_patch(path).demo_score
        if score is not None and not (folder / score.name).exists():
            shutil.copy2(score, folder / score.name)
    return target


def write_bindings(path: Path | str, bindings: dict[int, str]) -> Path:
    """Write `[midi.cc]` bindings (CC number -> parameter) into the patch; return the file written."""
    import tomlkit

    from liveengine.patch import load_patch

    path = Path(path)
    target = _user_copy(path) if is_shipped(path) else path
    text = target.read_text(encoding="utf-8-sig")  # a byte-order mark (some Windows editors) loads: learn takes it too
    try:
        document = tomlkit.parse(text)
    except Exception as exc:  # tomlkit raises its own ParseError family
        raise LiveEngineError(f"patch file {target} is not valid TOML: {exc}.", "Fix the line it names, then learn again.") from None
    midi = document.get("midi")
    if midi is None:
        midi = tomlkit.table()
        document["midi"] = midi
    cc = midi.get("cc")
    if cc is None:
        cc = tomlkit.table()
        midi["cc"] = cc
    for number, param in bindings.items():
        cc[str(int(number))] = param
    new_text = tomlkit.dumps(document)
    # Never replace a working patch with one that does not load; keep the old one as .bak.
    write_atomic(target, new_text.encode("utf-8"), keep_previous=target.with_name(target.name + ".bak"), check=load_patch)
    return target


def wait_for_control(poll, timeout: float, min_travel: int = 3, exclude=()) -> tuple[int, int] | None:
    """The (channel, CC number) of the first control that moves by at least `min_travel` steps.

    `poll()` returns a mido message or None. A single stray CC (a fader at rest
    jittering by one step) does not count, nor a CC in `exclude` (already bound).
    """
    first: dict[tuple[int, int], int] = {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        message = poll()
        if message is None:
            time.sleep(0.002)
            continue
        if message.type != "control_change" or message.control in exclude:
            continue
        key = (message.channel, message.control)
        start = first.setdefault(key, message.value)
        if abs(message.value - start) >= min_travel or message.value in (0, 127) and start != message.value:
            return key
    return None
