"""Test helpers for the audio server's shared memory."""

from __future__ import annotations

from liveengine.server.fifo import FifoReader


def queued_records(engine) -> list[tuple]:
    """Take the command records waiting in an engine's FIFO (only while no server runs: it consumes them)."""
    records: list[tuple] = []
    FifoReader(engine.shared).drain(records, 1 << 20)
    return records
