"""The one check every output path gets before a command starts work (render, render-grid, record,
captures, saved state, the library index cache): a refusal is one sentence naming the path and the fix."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from liveengine.errors import LiveEngineError


def check_output(path: Path | str, what: str, fix: str, *, folder: bool = False) -> None:
    """Raise LiveEngineError unless `path` (a file, or a folder where `folder`) can be written.

    Missing parent folders are allowed (writers create them) where the nearest existing one takes
    new files. That is tried for real with a temporary file: permission bits say nothing about
    read-only mounts or /proc, and root passes them all.
    """
    path = Path(path)
    base = path if folder else path.parent
    while not base.exists() and base != base.parent:
        base = base.parent
    if not base.is_dir():
        raise LiveEngineError(f"cannot write {what} {path}: {'it' if base == path else base} is a file, not a folder.", fix)
    try:
        handle, probe = tempfile.mkstemp(prefix=".liveengine-probe-", dir=base)
    except OSError as exc:
        raise LiveEngineError(f"cannot write {what} {path}: the folder {base} takes no new files ({exc.strerror or exc}).", fix) from None
    os.close(handle)
    os.unlink(probe)
