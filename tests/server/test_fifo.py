"""The command FIFO between two processes: a million records through a wrapping ring, none corrupt or lost."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


from liveengine.server.fifo import FifoReader, FifoWriter
from liveengine.server.layout import RECORD, Layout, SharedState

RECORDS = 1_000_000


def test_a_million_records_cross_processes_in_order_and_intact():
    layout = Layout(fifo_capacity=1024, slots=1, slot_frames=256, record_frames=256, timing_history=16)
    state = SharedState.create(layout)
    config = {"fd": state.segment.fd, "layout": layout.as_dict(), "records": RECORDS}
    producer = subprocess.Popen([sys.executable, str(Path(__file__).with_name("fifo_producer.py")), json.dumps(config)],
                                stdout=subprocess.PIPE, pass_fds=[state.segment.fd], text=True)
    reader = FifoReader(state)
    got: list = []
    pending: list = []  # drained records, checked 50,000 at a time with numpy (a Python check per record was most of the time)
    expected, bad, paused = 0, 0, False

    def check(records: list, first: int) -> int:
        """How many of `records` (which must be records first, first + 1, ...) differ from what the producer wrote."""
        got = np.array(records, dtype=RECORD)
        i = np.arange(first, first + len(records), dtype=np.int64)
        want = np.zeros(len(records), dtype=RECORD)
        want["frame"], want["gen"], want["kind"], want["slot"] = i, -i, i % 5, i % 1000
        want["gain"], want["choke"], want["pad"], want["onset"] = (i % 97) / 97.0, i % 7 - 1, i % 64, i % 300
        want["value"], want["spare"] = i * 0.5, i
        want["check"] = (i.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15) + np.uint64(0x632BE59BD9B4E019))
        return int(np.count_nonzero(got != want))

    deadline = time.monotonic() + 120
    while expected < RECORDS:
        assert time.monotonic() < deadline, f"only {expected} records arrived"
        if not paused and expected >= RECORDS // 2:
            paused = True
            # A stalled reader: the ring fills and the producer must count drops, not overwrite. Stalled until the ring
            # is full, however slowly a busy machine runs the producer, then 0.1 s more for its next put to be refused.
            while reader.waiting() < layout.fifo_capacity:
                assert time.monotonic() < deadline, f"the ring never filled ({reader.waiting()} waiting)"
                time.sleep(0.001)
            time.sleep(0.1)
        got.clear()
        if not reader.drain(got, 1 + expected % 300):  # uneven drain sizes, like blocks with few or many commands
            time.sleep(0.0001)
            continue
        pending += got
        expected += len(got)
        if len(pending) >= 50_000 or expected >= RECORDS:
            bad += check(pending, expected - len(pending))
            pending.clear()
    wraps = expected // layout.fifo_capacity
    out, _ = producer.communicate(timeout=30)
    assert producer.returncode == 0
    assert bad == 0  # every field of every record as written, in order (frame = its index)
    assert expected == RECORDS and wraps > 900
    assert json.loads(out)["dropped"] > 0  # the ring really filled up (and the producer counted it)
    assert reader.drain(got, 10) == 0


def test_a_full_fifo_drops_and_counts_and_a_reader_continues_after_restart():
    state = SharedState.create(Layout(fifo_capacity=4, slots=1, slot_frames=256, record_frames=256, timing_history=16))
    writer = FifoWriter(state)
    counts = [writer.put((i,) + (0,) * 10) for i in range(6)]
    assert counts == [0, 1, 2, 3, -1, -1] and writer.dropped == 2
    out: list = []
    assert FifoReader(state).drain(out, 2) == 2 and [r[0] for r in out] == [0, 1]
    # A new reader (a restarted server) starts where the last one stopped.
    out.clear()
    assert FifoReader(state).drain(out, 10) == 2 and [r[0] for r in out] == [2, 3]
