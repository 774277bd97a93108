"""Shared memory the control process creates and its children map: no name left behind, ever.

A segment is an anonymous memory file (Linux `memfd_create`; elsewhere a POSIX
shared-memory object unlinked the moment it is created), so nothing of ours ever
appears in the system's shared-memory folder: there is no name a SIGKILLed
process could leave there, and no resource tracker is involved (on Python 3.11 a
tracker in a killed child deletes a named segment under everyone's feet). The
control process keeps the file descriptor and hands it to each child it starts
(`subprocess.Popen(pass_fds=...)`), so a restarted server maps the same memory.
The memory goes away when the last process holding the descriptor or a mapping
exits, whichever way it exits.

`AtomicWord` wraps one aligned 64-bit word of a segment with the `atomics`
package (patomic: sequentially consistent loads and stores, so at least
release-on-store and acquire-on-load on every CPU, ARM included), for the few
words that publish data to another process: FIFO indexes, the frame counter,
the clock ring's count.
"""

from __future__ import annotations

import atexit
import ctypes
import mmap
import os
import weakref

import atomics


class Segment:
    """One block of shared memory, mapped read-write in this process."""

    def __init__(self, fd: int, size: int, populate: bool = False) -> None:
        self.fd = fd
        self.size = size
        flags = mmap.MAP_SHARED | (getattr(mmap, "MAP_POPULATE", 0) if populate else 0)
        self.map = mmap.mmap(fd, size, flags=flags)
        self._atomics: list = []

    @classmethod
    def create(cls, label: str, size: int) -> "Segment":
        """Control process: a new zero-filled segment of `size` bytes (pages are allocated on first touch)."""
        size = max(size, mmap.PAGESIZE)
        if hasattr(os, "memfd_create"):
            fd = os.memfd_create(f"liveengine-{label}", 0)  # close-on-exec unless passed on purpose
        else:  # macOS and other POSIX systems: a named object, unlinked at once
            import _posixshmem
            import secrets

            name = f"/le-{os.getpid()}-{secrets.token_hex(4)}"
            fd = _posixshmem.shm_open(name, os.O_CREAT | os.O_EXCL | os.O_RDWR, mode=0o600)
            _posixshmem.shm_unlink(name)
        os.ftruncate(fd, size)
        return cls(fd, size)

    @classmethod
    def attach(cls, fd: int, size: int, populate: bool = False) -> "Segment":
        """Child process: map a segment whose descriptor the parent passed on. `populate` (Linux)
        maps every page now, so the audio callback never takes a page fault on a pool slot."""
        return cls(fd, size, populate)

    def atomic(self, offset: int) -> "AtomicWord":
        word = AtomicWord(self.map, offset)
        self._atomics.append(word)
        return word

    def close_fd(self) -> None:
        """Drop the descriptor (no server will be started on it again): the memory then goes
        with the last mapping, when this process's views of it are garbage-collected."""
        if self.fd >= 0:
            try:
                os.close(self.fd)
            except OSError:
                pass
            self.fd = -1

    def close(self) -> None:
        """Unmap and close the descriptor. Views made from the map must be gone first."""
        for word in self._atomics:
            word.close()
        self._atomics.clear()
        try:
            self.map.close()
        except BufferError:
            pass  # a numpy view still exists somewhere; the mapping goes with the process
        self.close_fd()


class AtomicWord:
    """A signed 64-bit word at `offset` (8-byte aligned) with atomic load and store (sequentially consistent).

    The package's own `load` and `store` take 4.5 us each here (a buffer object, a bytes object and
    checks per call), and the audio callback makes about four a block: 15 to 25% of its median time.
    The same patomic functions called through the function pointers the package resolved take
    0.5 us, without releasing the interpreter lock (bench/callback_cost.py). That path is used where
    the installed `atomics` still has them (1.0.x), else the package's public methods. Each call passes
    a value cell of its own (a small object, as the callback's contract allows), so threads never share one."""

    __slots__ = ("_context", "_word", "load", "store", "fast", "keeps_lock", "__weakref__")

    def __init__(self, buffer: mmap.mmap, offset: int) -> None:
        if offset % 8:
            raise ValueError(f"atomic word at offset {offset} is not 8-byte aligned")
        self._context = atomics.atomicview(buffer=memoryview(buffer)[offset : offset + 8], atype=atomics.INT)
        self._word = self._context.__enter__()
        _OPEN.add(self)
        functions = _patomic_functions(self._word)
        self.fast = functions is not None
        self.keeps_lock = False  # whether a call keeps the interpreter lock (the fast path's Python-API calls)
        if functions is None:
            self.load = self._word.load  # bound once: the audio thread calls these every block
            self.store = self._word.store
        else:
            self.load, self.store, self.keeps_lock = functions

    def close(self, keep_calls: bool = False) -> None:
        """Close the word's context; `keep_calls` (at interpreter exit) leaves load and store bound for an audio thread
        still running."""
        context, self._context = self._context, None
        if context is not None:
            if not keep_calls:
                self.load = self.store = None
                self._word = None
            context.__exit__(None, None, None)

    def __del__(self) -> None:
        self.close()  # before the context's own finaliser, which refuses an open context


# Words still open when the interpreter exits are closed before its last garbage collection, which finalises objects in
# no set order: the package's word could go first and print "Cannot call 'release' while context is open" on stderr
# (seen once in a full run, after `play` refused a score).
_OPEN: "weakref.WeakSet[AtomicWord]" = weakref.WeakSet()


@atexit.register
def _close_open_words() -> None:
    for word in list(_OPEN):
        word.close(keep_calls=True)


def _patomic_functions(word):
    """(load, store, keeps_lock) calling patomic's sequentially consistent 64-bit load and store at `word`'s address
    directly, or None where this `atomics` does not expose them as 1.0.x does."""
    try:
        from atomics._impl.enums import MemoryOrder, OpType

        core = word._core
        store_fp, load_fp, address = core.get_op_func(OpType.STORE), core.get_op_func(OpType.LOAD), core.address
        order = int(MemoryOrder.SEQ_CST)
    except (ImportError, AttributeError):
        return None
    if store_fp is None or load_fp is None or core.width != 8:
        return None
    # Called as Python-API functions: the interpreter lock stays held across the few nanoseconds the
    # atomic takes. A plain foreign call (the package's) releases and retakes it, which lets any other
    # thread that wants the lock take it in the middle of the audio callback.
    void_p = ctypes.c_void_p
    store_fp = ctypes.cast(store_fp, ctypes.PYFUNCTYPE(None, void_p, void_p, ctypes.c_int))
    load_fp = ctypes.cast(load_fp, ctypes.PYFUNCTYPE(None, void_p, ctypes.c_int, void_p))
    cell, byref = ctypes.c_int64, ctypes.byref

    def load() -> int:
        value = cell()
        load_fp(address, order, byref(value))
        return value.value

    def store(desired: int) -> None:
        store_fp(address, byref(cell(desired)), order)

    return load, store, bool(store_fp._flags_ & load_fp._flags_ & ctypes._FUNCFLAG_PYTHONAPI)
