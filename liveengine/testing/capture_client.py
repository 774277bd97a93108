"""The capture's JACK client, run as a process of its own (`jack_rig.Capture` starts it).

Why a process: its process callback is Python, and in the test process it waited for that
process's interpreter lock, held by the engine's threads, the MIDI stand-in and the test
itself; on the synchronous test server a late capture callback holds the whole cycle, so a
test could not tell its own stall from the engine's. Here nothing else runs Python.

It records into a file both processes map (`layout`), never allocating on JACK's thread.
Protocol: it prints its JACK client name once active; the parent asks it to begin recording
by setting START (the callback zeroes the counts and answers with RECORDING); closing its
stdin ends it.

Usage: python -m liveengine.testing.capture_client SERVER NAME CHANNELS FRAMES PERIOD FILE
"""

from __future__ import annotations

import gc
import sys
import time

import numpy as np

# The header's int64 slots.
START, RECORDING, COUNT, FRAMES = range(4)
HEADER = 8


def layout(path: str, channels: int, frames: int, period: int, create: bool = False):
    """The mapped file's parts: header int64[8], cycles int64, entered float64, data float32[frames, channels]."""
    cycles = frames // period + 1
    sizes = (HEADER * 8, cycles * 8, cycles * 8, frames * channels * 4)
    if create:
        with open(path, "wb") as made:
            made.truncate(sum(sizes))
    whole = np.memmap(path, dtype=np.uint8, mode="r+", shape=(sum(sizes),))
    offsets = np.cumsum((0,) + sizes)
    header = whole[offsets[0] : offsets[1]].view(np.int64)
    cycle_times = whole[offsets[1] : offsets[2]].view(np.int64)
    entered = whole[offsets[2] : offsets[3]].view(np.float64)
    data = whole[offsets[3] : offsets[4]].view(np.float32).reshape(frames, channels)
    return header, cycle_times, entered, data


def main(argv: list[str]) -> int:
    import jack

    server, name, channels, frames, period, path = argv[0], argv[1], int(argv[2]), int(argv[3]), int(argv[4]), argv[5]
    header, cycles, entered, data = layout(path, channels, frames, period)
    client = jack.Client(name, no_start_server=True, servername=server)
    ports = [client.inports.register(f"in_{i}") for i in range(channels)]
    limit = len(data)

    def process(count: int) -> None:
        if header[START]:
            header[COUNT] = 0
            header[FRAMES] = 0
            header[START] = 0
            header[RECORDING] = 1
        if not header[RECORDING]:
            return
        done = int(header[FRAMES])
        if done + count > limit:
            return
        for i, port in enumerate(ports):
            data[done : done + count, i] = port.get_array()
        cycle = int(header[COUNT])
        cycles[cycle] = client.last_frame_time
        entered[cycle] = time.perf_counter()  # CLOCK_MONOTONIC: the test process's perf_counter reads the same clock
        header[FRAMES] = done + count
        header[COUNT] = cycle + 1  # last: the test process reads the count, then what it covers

    client.set_process_callback(process)
    gc.disable()  # a small heap, but no collection on JACK's thread either
    client.activate()
    print(client.name, flush=True)
    sys.stdin.read()  # until the test process closes our stdin (or dies)
    client.deactivate()
    client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
