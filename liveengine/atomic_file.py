"""Writing a file so that, at every instant, a complete version of it is on disk.

Used for the live state, patches edited by MIDI learn, and the library index: write a
temporary file beside the target, fsync it, optionally check it, keep a copy of the
current file (written the same way: error messages point users at it), rename the new
one into place, and fsync the folder so the rename lasts. A process killed mid-write
leaves only a hidden `.NAME.*.tmp` beside the target; `remove_stale_temporaries` clears those.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Callable

STALE_SECONDS = 60.0  # a write takes milliseconds: a temporary this old has no writer left


def _umask() -> int:
    """The process's file-creation mask, read without changing it (os.umask sets it, racing other threads)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o022


def _temporary(path: Path, data: bytes) -> Path:
    """`data` in a fsynced temporary file beside `path` (removed again if writing fails), with the permissions `path`
    has, or those a new file gets (mkstemp's own are owner-only: a patch would stop being readable by others)."""
    handle, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    temporary = Path(name)
    try:
        try:
            mode = path.stat().st_mode & 0o7777
        except OSError:
            mode = 0o666 & ~_umask()
        with os.fdopen(handle, "wb") as out:
            os.fchmod(out.fileno(), mode)
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return temporary


def write_atomic(path: Path, data: bytes, *, keep_previous: Path | None = None, check: Callable[[Path], object] | None = None) -> Path:
    """Replace `path` with `data` atomically; OSError (or what `check` raises) leaves `path` as it was.

    keep_previous: where to keep the current file (a `.bak`), if it exists; replaced atomically too.
    check: called with the written temporary file before it replaces anything.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = _temporary(path, data)
    try:
        if check is not None:
            check(temporary)
        if keep_previous is not None and path.exists():
            write_atomic(Path(keep_previous), path.read_bytes())
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


def remove_stale_temporaries(folder: Path) -> list[Path]:
    """Remove what writes killed midway left in `folder` (temporaries untouched for STALE_SECONDS); returns them."""
    removed = []
    cutoff = time.time() - STALE_SECONDS
    for temporary in Path(folder).glob(".*.tmp"):
        try:
            if temporary.is_file() and temporary.stat().st_mtime < cutoff:
                temporary.unlink()
                removed.append(temporary)
        except FileNotFoundError:
            pass  # another start removed it first
    return removed


class StagedFolder:
    """A folder written in full beside `out` (hidden `.NAME.<suffix>/`), then swapped in: `out` moves aside to
    `.NAME.previous/`, the new folder takes its name, the old one is removed. A process killed before the swap leaves
    `out` as it was; one killed between the two renames leaves `.NAME.previous/` alone, which `recover` (run by `begin`)
    puts back. An `out` that is a symbolic link is written where it points, so the folder stays on the linked disk.
    Used by `liveengine train`'s export (training/own.py Staging) and by `render-grid` into a new folder."""

    def __init__(self, out: Path, suffix: str) -> None:
        self.out = out.resolve() if out.is_symlink() else out
        self.stage = self.out.parent / f".{self.out.name}.{suffix}"
        self.previous = self.out.parent / f".{self.out.name}.previous"

    def recover(self) -> None:
        """Mend what a killed write left: put back a folder left aside mid-swap, drop one left after it, and remove a
        half-written stage."""
        import shutil

        if self.previous.is_dir():
            if self.out.is_dir():
                shutil.rmtree(self.previous)  # killed after the swap, before the old folder was removed
            else:
                os.rename(self.previous, self.out)  # killed between the renames: the folder that was there is put back
        self.discard()

    def discard(self) -> None:
        import shutil

        if self.stage.exists():
            shutil.rmtree(self.stage)

    def begin(self) -> None:
        self.recover()
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self.stage.mkdir()

    def swap_in(self) -> None:
        import shutil

        if self.out.exists():
            os.rename(self.out, self.previous)
        os.rename(self.stage, self.out)
        shutil.rmtree(self.previous, ignore_errors=True)
