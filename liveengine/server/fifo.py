"""The command FIFO: fixed 64-byte records in shared memory, one producer, one consumer, no waiting.

scsynth's MsgFifo in shared memory: the control process writes a record, then
publishes it by storing the new write count (atomic, release); the audio
callback loads the write count (atomic, acquire), reads the records up to it and
stores its read count. Counts only grow; a record lives at `count % capacity`.
A full FIFO is a dropped, counted command, never a wait.

Two FIFOs share this code: `fifo` carries commands from the control process to the
server; `events` carries input events the other way (the server's side writes
without a lock: only its audio callback does).
"""

from __future__ import annotations

import contextlib
import threading

from liveengine.server.layout import SharedState


class FifoWriter:
    """The producer. With `lock` any control thread may call `put` (the lock keeps them one producer);
    without, one thread only (the audio callback, which must never wait)."""

    def __init__(self, state: SharedState, name: str = "fifo", lock: bool = True) -> None:
        self.records = getattr(state, name)
        self._write = getattr(state, f"{name}_write")
        self._read = getattr(state, f"{name}_read")
        self.capacity = len(self.records)
        self.written = self._write.load()  # the FIFO outlives a server restart: continue its count
        # The reader's count as last loaded: it only grows, so the room it shows is never more than
        # there is; it is loaded again only when the FIFO looks full (one atomic operation a put, not two).
        self._read_seen = self._read.load()
        self.dropped = 0
        self._lock = threading.Lock() if lock else contextlib.nullcontext()

    def put(self, record: tuple) -> int:
        """Queue one record (a tuple in RECORD's field order). Returns its count (its position), or -1 if full."""
        with self._lock:
            written = self.written
            if written - self._read_seen >= self.capacity:
                self._read_seen = self._read.load()
                if written - self._read_seen >= self.capacity:
                    self.dropped += 1
                    return -1
            self.records[written % self.capacity] = record
            self.written = written + 1
            self._write.store(written + 1)  # publishes the record
            return written

    def pending(self) -> int:
        return self.written - self._read.load()


class FifoReader:
    """The consumer (the audio thread, for commands). `drain` returns at most `limit` records as tuples, oldest first."""

    def __init__(self, state: SharedState, name: str = "fifo") -> None:
        self.fifo = getattr(state, name)
        self.capacity = len(self.fifo)
        self._write = getattr(state, f"{name}_write")
        self._read_word = getattr(state, f"{name}_read")
        self.read = self._read_word.load()  # a restarted server continues where the last one stopped

    def waiting(self) -> int:
        """Records published and not drained yet."""
        return self._write.load() - self.read

    def drain(self, out: list, limit: int) -> int:
        available = self._write.load() - self.read
        if available <= 0:
            return 0
        count = min(available, limit)
        fifo, capacity, read = self.fifo, self.capacity, self.read
        for i in range(read, read + count):
            out.append(fifo[i % capacity].item())
        self.read = read + count
        self._read_word.store(self.read)
        return count
