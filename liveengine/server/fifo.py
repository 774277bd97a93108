"""The command FIFO: fixed 64-byte records in shared memory, one producer, one consumer, no waiting.

scsynth's MsgFifo in shared memory: the control process writes a record, then
publishes it by storing the new write count (atomic, release); the audio
callback loads the write count (atomic, acquire), reads the records up to it and
stores its read count. Counts only grow; a record lives at `count % capacity`.
A full FIFO is a dropped, counted command, never a wait.
"""

from __future__ import annotations

import threading

from liveengine.server.layout import SharedState


class FifoWriter:
    """Control process. Any control thread may call `put`; a lock keeps them one producer."""

    def __init__(self, state: SharedState) -> None:
        self.state = state
        self.capacity = len(state.fifo)
        self.written = state.fifo_write.load()  # the FIFO outlives a server restart: continue its count
        self.dropped = 0
        self._lock = threading.Lock()

    def put(self, record: tuple) -> int:
        """Queue one record (a tuple in RECORD's field order). Returns its count (its position), or -1 if full."""
        with self._lock:
            written = self.written
            if written - self.state.fifo_read.load() >= self.capacity:
                self.dropped += 1
                return -1
            self.state.fifo[written % self.capacity] = record
            self.written = written + 1
            self.state.fifo_write.store(written + 1)  # publishes the record
            return written

    def pending(self) -> int:
        return self.written - self.state.fifo_read.load()


class FifoReader:
    """Audio thread. `drain` returns at most `limit` records as tuples, oldest first."""

    def __init__(self, state: SharedState) -> None:
        self.fifo = state.fifo
        self.capacity = len(state.fifo)
        self._write = state.fifo_write
        self._read_word = state.fifo_read
        self.read = state.fifo_read.load()  # a restarted server continues where the last one stopped

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
