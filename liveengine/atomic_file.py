"""Writing a file so that, at every instant, a complete version of it is on disk.

Used for the live state, patches edited by MIDI learn, and the library index: write a
temporary file beside the target, fsync it, optionally check it, keep a copy of the
current file, rename the new one into place, and fsync the folder so the rename lasts.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable


def write_atomic(path: Path, data: bytes, *, keep_previous: Path | None = None, check: Callable[[Path], object] | None = None) -> Path:
    """Replace `path` with `data` atomically; OSError (or what `check` raises) leaves `path` as it was.

    keep_previous: where to copy the current file first (a `.bak`), if it exists.
    check: called with the written temporary file before it replaces anything.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    temporary = Path(temporary_name)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        if check is not None:
            check(temporary)
        if keep_previous is not None and path.exists():
            shutil.copy2(path, keep_previous)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    try:
        folder = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)  # the rename itself reaches the disk
        finally:
            os.close(folder)
    except OSError:
        pass  # not every platform can fsync a folder; the file itself is synced
    return path
