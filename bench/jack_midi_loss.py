"""Which MIDI messages a JACK client writes that no reader ever gets: the two cases rt/midi_out.py counts.

    python bench/jack_midi_loss.py [--seconds 4] [--trials 20]

Two JACK clients of this process on a JACK dummy server (48 kHz, 128-frame periods, --no-realtime): a
writer that writes one numbered note into its MIDI output every cycle, and a reader that keeps what its
MIDI input gets. The reader's output feeds the writer's input in the `loop` topology (as a controller
feeds the audio server and gets its LEDs back: JACK then runs the reader first and it reads the writer's
previous cycle), not in `chain`.

1. Late callbacks: every 50th callback the writer sleeps 4 ms (1.5 periods) before writing. For each
   mode (jackd's default asynchronous one, and -S) and topology: messages written, lost, lost from late
   callbacks, and late callbacks that `last_frame_time` moving on during the callback caught (what
   JackBackend.cycle_dropped checks).
2. A new connection: the bay connects writer -> reader (trials times, disconnecting in between); how
   often the first message written after jack_connect returned never arrived (asynchronous mode).

Writes bench/results_jack_midi_loss.json. The machine is shared: no busy neighbours are added, and the
figures of (1) do not depend on them (the lateness is made on purpose).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

LATE_EVERY = 50
LATE_SECONDS = 0.004


def _reading(r_in, r_out, got: list):
    """The reader's process callback: the 14-bit number of every note that arrives, appended to `got`."""

    def read(frames: int) -> None:
        r_out.clear_buffer()
        for _, data in r_in.incoming_midi_events():
            note = bytes(data)
            got.append(note[1] | (note[2] << 7))

    return read


def _clients(name: str):
    import jack

    writer = jack.Client("writer", no_start_server=True, servername=name)
    reader = jack.Client("reader", no_start_server=True, servername=name)
    ports = (writer.midi_inports.register("in"), writer.midi_outports.register("out"),
             reader.midi_inports.register("in"), reader.midi_outports.register("out"))
    return writer, reader, ports


def late_callbacks(synchronous: bool, loop: bool, seconds: float) -> dict:
    from liveengine.testing.jack_rig import start_jackd

    name = f"liveengine-bench-loss-{os.getpid()}"
    server = start_jackd(name, synchronous=synchronous)
    try:
        writer, reader, (_, w_out, r_in, r_out) = _clients(name)
        written: list[tuple[int, bool, bool]] = []  # (number, made late, last_frame_time moved on)
        got: list[int] = []

        def write(frames: int) -> None:
            start = writer.last_frame_time
            w_out.clear_buffer()
            n = len(written)
            late = n % LATE_EVERY == LATE_EVERY // 2
            if late:
                time.sleep(LATE_SECONDS)
            w_out.write_midi_event(0, bytes([0x90, n & 0x7F, (n >> 7) & 0x7F]))
            written.append((n, late, writer.last_frame_time != start))

        writer.set_process_callback(write)
        reader.set_process_callback(_reading(r_in, r_out, got))
        writer.activate()
        reader.activate()
        if loop:
            reader.connect(r_out, "writer:in")  # first: the next connection closes the loop
        writer.connect(w_out, r_in)
        time.sleep(seconds)
        writer.deactivate()
        reader.deactivate()
        heard = set(got)
        lo, hi = min(heard), max(heard)  # before the connection and after deactivation nothing can arrive
        span = [w for w in written if lo <= w[0] <= hi]
        assert len(written) < 1 << 14, "numbers are 14 bits: run for less time"
        lost = [w for w in span if w[0] not in heard]
        writer.close()
        reader.close()
    finally:
        server.stop()
    return {"mode": "-S" if synchronous else "async", "topology": "loop" if loop else "chain", "written": len(span),
            "lost": len(lost), "late_callbacks": sum(w[1] for w in span), "lost_from_late_callbacks": sum(w[1] for w in lost),
            "late_callbacks_caught_by_last_frame_time": sum(w[1] and w[2] for w in span),
            "other_callbacks_flagged": sum(w[2] and not w[1] for w in span), "read_twice": len(got) - len(heard)}


def new_connection(loop: bool, trials: int) -> dict:
    import jack

    from liveengine.testing.jack_rig import start_jackd

    name = f"liveengine-bench-connect-{os.getpid()}"
    server = start_jackd(name, synchronous=False)
    try:
        writer, reader, (_, w_out, r_in, r_out) = _clients(name)
        bay = jack.Client("bay", no_start_server=True, servername=name)
        count = [0]
        got: list[int] = []

        def write(frames: int) -> None:
            w_out.clear_buffer()
            n = count[0]
            count[0] = n + 1
            w_out.write_midi_event(0, bytes([0x90, n & 0x7F, (n >> 7) & 0x7F]))

        writer.set_process_callback(write)
        reader.set_process_callback(_reading(r_in, r_out, got))
        writer.activate()
        reader.activate()
        if loop:
            bay.connect("reader:out", "writer:in")
        missed = 0
        for _ in range(trials):
            time.sleep(0.05)
            got.clear()
            bay.connect("writer:out", "reader:in")
            first_after = count[0]  # written by a callback that began after jack_connect returned
            time.sleep(0.1)
            missed += (first_after & 0x3FFF) not in set(got)
            bay.disconnect("writer:out", "reader:in")
        for client in (writer, reader):
            client.deactivate()
        for client in (writer, reader, bay):
            client.close()
    finally:
        server.stop()
    return {"topology": "loop" if loop else "chain", "trials": trials, "first_message_after_connect_missing": missed}


def one(kind: str, synchronous: bool, loop: bool, seconds: float, trials: int) -> dict:
    """One measurement in a process of its own: libjack keeps per-process state of the server it talked to,
    so one process must not meet a second JACK server."""
    command = [sys.executable, __file__, "--one", kind, "--seconds", str(seconds), "--trials", str(trials)]
    command += ["--sync"] if synchronous else []
    command += ["--loop"] if loop else []
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"{kind} measurement failed: {done.stderr[-1500:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="MIDI messages JACK delivers to nobody: late callbacks, new connections.")
    parser.add_argument("--seconds", type=float, default=4.0, help="per late-callback run")
    parser.add_argument("--trials", type=int, default=20, help="connections made per topology")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results_jack_midi_loss.json")
    parser.add_argument("--one", choices=("late", "connect"), help=argparse.SUPPRESS)
    parser.add_argument("--sync", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--loop", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        result = late_callbacks(args.sync, args.loop, args.seconds) if args.one == "late" else new_connection(args.loop, args.trials)
        print(json.dumps(result), flush=True)
        os._exit(0)  # a JACK client thread left hanging by a close must not keep the process alive
    load = os.getloadavg()
    results = {"late_callbacks": [one("late", sync, loop, args.seconds, args.trials) for sync in (False, True) for loop in (True, False)],
               "new_connection": [one("connect", False, loop, args.seconds, args.trials) for loop in (True, False)],
               "load_average_at_start": load, "measured": time.strftime("%Y-%m-%d")}
    args.out.write_text(json.dumps(results, indent=1) + "\n")
    print(json.dumps(results, indent=1), flush=True)


if __name__ == "__main__":
    if "--one" in sys.argv:
        main()  # a measurement of the run below, which holds the lock
    from liveengine.job_lock import run_exclusively  # never beside a training run: each skews the other

    sys.exit(run_exclusively("the JACK MIDI loss benchmark (bench/jack_midi_loss.py)", main))
