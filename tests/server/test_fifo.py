"""The command FIFO between two processes: a million records through a wrapping ring, none corrupt or lost."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from fifo_producer import checksum

from liveengine.server.fifo import FifoReader, FifoWriter
from liveengine.server.layout import Layout, SharedState

RECORDS = 1_000_000


def test_a_million_records_cross_processes_in_order_and_intact():
    layout = Layout(fifo_capacity=1024, slots=1, slot_frames=256, record_frames=256, timing_history=16)
    state = SharedState.create(layout)
    config = {"fd": state.segment.fd, "layout": layout.as_dict(), "records": RECORDS}
    producer = subprocess.Popen([sys.executable, str(Path(__file__).with_name("fifo_producer.py")), json.dumps(config)],
                                stdout=subprocess.PIPE, pass_fds=[state.segment.fd], text=True)
    reader = FifoReader(state)
    got: list = []
    expected, bad, wraps, paused = 0, [], 0, False
    deadline = time.monotonic() + 120
    while expected < RECORDS:
        assert time.monotonic() < deadline, f"only {expected} records arrived"
        if not paused and expected >= RECORDS // 2:
            paused = True
            time.sleep(0.1)  # a stalled reader: the ring fills and the producer must count drops, not overwrite
        got.clear()
        if not reader.drain(got, 1 + expected % 300):  # uneven drain sizes, like blocks with few or many commands
            time.sleep(0.0001)
            continue
        for record in got:
            i = record[0]
            want = (i, -i, i % 5, i % 1000, float(i % 97) / 97.0, i % 7 - 1, i % 64, i % 300, i * 0.5, checksum(i), i)
            # gain is float32 in the record: compare it at that precision
            if i != expected or record[9] != want[9] or record[:4] != want[:4] or record[5:9] != want[5:9] \
                    or abs(record[4] - want[4]) > 1e-6 or record[10] != want[10]:
                bad.append(record)
            expected = i + 1
        wraps = expected // layout.fifo_capacity
    out, _ = producer.communicate(timeout=30)
    assert producer.returncode == 0
    assert bad == []
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
