"""The stand-in controller's JACK client, run as a process of its own (`midi_rig.MidiTester` starts it).

Why a process: its process callback is Python, and in the test process it waited for that
process's interpreter lock (the engine's threads, rtmidi opening and closing clients, the test
itself). On the synchronous test server a late callback holds the whole cycle, and what it
wrote in a late cycle could reach nobody: the tests could not tell the test process's stalls
from the engine's. Here only this small process's own reader and reporter wait beside it.

Protocol, one line each way per item:
- stdin: `A` activate; `S frame hex` an event to write at that JACK frame (in frame order; `-` for no
  bytes); EOF ends it.
- stdout: first `ready<TAB>out port<TAB>in port` once the ports exist (and `active` after `A`); then,
  in the order they happened, `R frame hex` an event received, `W frame first-byte` an event written,
  `E` an event that could not be written (lost, counted), and `L late_writes late_reads` when those change.

Usage: python -m liveengine.testing.midi_tester_client SERVER CLIENT PORT PARENT_PID
"""

from __future__ import annotations

import gc
import sys
import threading
import time
from collections import deque

MAX_EVENTS_PER_CYCLE = 64  # JACK's MIDI buffer holds a few KiB a cycle: spread floods over cycles


def main(argv: list[str]) -> int:
    import jack

    from liveengine.testing.capture_client import die_with_parent

    server, name, port, parent = argv[0], argv[1], argv[2], int(argv[3])
    die_with_parent(parent)
    # Its reader and reporter threads share this interpreter with the callback: hand the lock over within a
    # fifth of a period, not Python's default 5 ms (two periods).
    sys.setswitchinterval(0.0005)
    client = jack.Client(name, no_start_server=True, servername=server)
    out = client.midi_outports.register(f"{port} out")
    inp = client.midi_inports.register(f"{port} in")
    pending: deque = deque()  # (absolute frame, bytes), in frame order
    lock = threading.Lock()
    report: deque = deque()  # lines for the test process, appended on JACK's thread, written by the reporter
    late = [0, 0]  # late_writes, late_reads

    def process(frames: int) -> None:
        start = client.last_frame_time
        out.clear_buffer()
        written = 0
        with lock:
            while pending and written < MAX_EVENTS_PER_CYCLE:
                frame, data = pending[0]
                if frame >= start + frames:
                    break
                if written and len(data) > out.max_event_size:
                    # This cycle's MIDI buffer is full: the rest waits for the next cycle, in order, as a
                    # controller's bandwidth would hold them.
                    break
                pending.popleft()
                offset = max(0, frame - start)
                try:
                    out.write_midi_event(offset, data)
                    report.append(f"W {start + offset} {data[0] if data else -1}")
                    written += 1
                except Exception:  # larger than an empty cycle's buffer, or before an earlier event: counted and lost
                    report.append("E")
        read = 0
        for offset, data in inp.incoming_midi_events():
            report.append(f"R {start + offset} {bytes(data).hex()}")
            read += 1
        if (written or read) and (client.frames_since_cycle_start >= frames or client.last_frame_time != start):
            # This callback ended after its cycle's deadline (a busy machine): JACK may have run the readers of its
            # outputs without what it wrote. Counted, so a failing test can say so.
            late[0] += written
            late[1] += 1 if read else 0
            report.append(f"L {late[0]} {late[1]}")

    ended = threading.Event()

    def reporter() -> None:
        while True:
            last = ended.is_set()  # read before the queue is drained: a last pass once the client is closed
            lines = []
            while report:
                lines.append(report.popleft())
            if lines:
                sys.stdout.write("\n".join(lines) + "\n")
                sys.stdout.flush()
            if last:
                return
            time.sleep(0.002)

    client.set_process_callback(process)
    gc.disable()  # a small heap: no collection holds the callback up
    print(f"ready\t{out.name}\t{inp.name}", flush=True)
    saying = threading.Thread(target=reporter)
    saying.start()
    try:
        for line in sys.stdin:
            if line.startswith("S "):
                _, frame, data = line.split()
                with lock:
                    pending.append((int(frame), b"" if data == "-" else bytes.fromhex(data)))
            elif line.startswith("A"):
                client.activate()
                report.append("active")
        client.deactivate()
        client.close()
    finally:
        ended.set()
        saying.join()  # every line said before exiting
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
