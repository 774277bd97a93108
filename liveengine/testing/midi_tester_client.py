"""The stand-in controller's JACK client, run as a process of its own (`midi_rig.MidiTester` starts it).

Why a process: its process callback is Python, and in the test process it waited for that
process's interpreter lock (the engine's threads, rtmidi opening and closing clients, the test
itself). On the synchronous test server a late callback holds the whole cycle, and what it
wrote in a late cycle could reach nobody: the tests could not tell the test process's stalls
from the engine's. Here only this small process's own reader and reporter wait beside it.

Protocol, one line each way per item:
- stdin: `A` activate; `S frame hex` an event to write at that JACK frame (in frame order); EOF ends it.
- stdout: first `ready<TAB>out port<TAB>in port` once the ports exist (and `active` after `A`); then
  `R frame hex` an event received, `W frame first-byte` an event written, and
  `C taken write_errors late_writes late_reads` the counters when they change.

Usage: python -m liveengine.testing.midi_tester_client SERVER CLIENT PORT
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

    server, name, port = argv
    client = jack.Client(name, no_start_server=True, servername=server)
    out = client.midi_outports.register(f"{port} out")
    inp = client.midi_inports.register(f"{port} in")
    pending: deque = deque()  # (absolute frame, bytes), in frame order
    lock = threading.Lock()
    report: deque = deque()  # lines for the test process, appended on JACK's thread, written by the reporter
    counts = [0, 0, 0, 0]  # taken, write_errors, late_writes, late_reads

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
                counts[0] += 1
                offset = max(0, frame - start)
                try:
                    out.write_midi_event(offset, data)
                    report.append(f"W {start + offset} {data[0] if data else -1}")
                    written += 1
                except Exception:  # larger than an empty cycle's buffer, or before an earlier event: counted and lost
                    counts[1] += 1
        read = 0
        for offset, data in inp.incoming_midi_events():
            report.append(f"R {start + offset} {bytes(data).hex()}")
            read += 1
        if (written or read) and (client.frames_since_cycle_start >= frames or client.last_frame_time != start):
            # This callback ended after its cycle's deadline (a busy machine): JACK may have run the readers of its
            # outputs without what it wrote. Counted, so a failing test can say so.
            counts[2] += written
            counts[3] += 1 if read else 0

    def reporter() -> None:
        said = None
        while True:
            lines = []
            while report:
                lines.append(report.popleft())
            now = tuple(counts)
            if now != said:
                lines.append("C " + " ".join(map(str, now)))
                said = now
            if lines:
                sys.stdout.write("\n".join(lines) + "\n")
                sys.stdout.flush()
            time.sleep(0.002)

    client.set_process_callback(process)
    gc.disable()  # a small heap: no collection holds the callback up
    print(f"ready\t{out.name}\t{inp.name}", flush=True)
    threading.Thread(target=reporter, daemon=True).start()
    for line in sys.stdin:
        if line.startswith("S "):
            _, frame, data = line.split()
            with lock:
                pending.append((int(frame), bytes.fromhex(data)))
        elif line.startswith("A"):
            client.activate()
            report.append("active")
    client.deactivate()
    client.close()
    time.sleep(0.01)  # the reporter's last lines
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
