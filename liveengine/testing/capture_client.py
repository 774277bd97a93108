"""The capture's JACK client, run as a process of its own (`jack_rig.Capture` starts it).

Why a process: its process callback is Python, and in the test process it waited for that
process's interpreter lock, held by the engine's threads, the MIDI stand-in and the test
itself; on the synchronous test server a late capture callback holds the whole cycle, so a
test could not tell its own stall from the engine's. Here nothing else runs Python.

It records into a file both processes map (`layout`), never allocating on JACK's thread.
Protocol: it prints its JACK client name once active (the test process then removes the file's
name: both keep their mappings); the parent asks it to begin recording by setting START (the
callback zeroes the counts, clears START and sets RECORDING) and to end by setting STOP (the
callback clears RECORDING, then STOP); closing its stdin ends it, and so does the test
process's death.

Usage: python -m liveengine.testing.capture_client SERVER NAME CHANNELS FRAMES PERIOD FILE PARENT_PID
"""

from __future__ import annotations

import gc
import os
import sys
import time

import numpy as np

# The header's int64 slots.
START, RECORDING, COUNT, FRAMES, STOP = range(5)
HEADER = 8


def layout(path: str, channels: int, frames: int, period: int, create: bool = False):
    """The mapped file's parts: header int64[8], cycles int64, entered float64, data float32[frames, channels]."""
    cycles = frames // period + 1
    sizes = (HEADER * 8, cycles * 8, cycles * 8, frames * channels * 4)
    if create:
        with open(path, "wb") as made:
            os.posix_fallocate(made.fileno(), 0, sum(sizes))  # a full /dev/shm fails here, not as SIGBUS mid-recording
    whole = np.memmap(path, dtype=np.uint8, mode="r+", shape=(sum(sizes),))
    offsets = np.cumsum((0,) + sizes)
    header = whole[offsets[0] : offsets[1]].view(np.int64)
    cycle_times = whole[offsets[1] : offsets[2]].view(np.int64)
    entered = whole[offsets[2] : offsets[3]].view(np.float64)
    data = whole[offsets[3] : offsets[4]].view(np.float32).reshape(frames, channels)
    return header, cycle_times, entered, data


def die_with_parent(parent: int) -> None:
    """End this process (SIGTERM) when the test process that started it dies, even by SIGKILL (Linux): set here rather
    than in a preexec_fn, which is unsafe in a parent running threads. Gone already: end now."""
    import signal

    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass  # not Linux: the rig closes its children itself
    if os.getppid() != parent:
        sys.exit(0)


def main(argv: list[str]) -> int:
    import jack

    server, name, channels, frames, period, path, parent = argv[0], argv[1], int(argv[2]), int(argv[3]), int(argv[4]), argv[5], int(argv[6])
    die_with_parent(parent)
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
        if header[STOP]:
            header[RECORDING] = 0
            header[STOP] = 0
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
