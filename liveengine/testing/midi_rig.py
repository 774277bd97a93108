"""A stand-in MIDI controller on JACK, for tests and the benchmark.

`MidiTester` is a JACK client with one MIDI output (what a controller sends) and one
MIDI input (what it receives: LED messages). It writes events at exact JACK frame
times and records what arrives with the frame it arrived at. Its port names can be
made to look like a controller's ("LPMiniMK3 MIDI"), so liveengine picks the
profile by name exactly as for hardware.
"""

from __future__ import annotations

import threading
import time

from liveengine.testing import midi_tester_client
from liveengine.testing.jack_rig import RigChild


class MidiTester:
    """A stand-in controller: its JACK client runs in a process of its own (`midi_tester_client`), so its callback
    never waits for this process's interpreter lock; `client` here is an inactive client for connections and
    look-ups. What it receives and writes comes back in `received` and `written` a few milliseconds later."""

    MAX_EVENTS_PER_CYCLE = midi_tester_client.MAX_EVENTS_PER_CYCLE

    def __init__(self, servername: str, client: str = "LPMiniMK3", port: str = "LPMiniMK3 MIDI", activate: bool = True) -> None:
        import jack

        self.received: list[tuple[int, bytes]] = []
        self.written: list[tuple[int, int]] = []  # (frame written at, first byte) per event
        self.write_errors = 0
        self.late_writes = 0  # events written in a cycle whose callback ended late (see midi_tester_client)
        self.late_reads = 0  # cycles whose events were read by a callback that ended late
        self._sent = 0
        self._send_lock = threading.Lock()
        self._active = threading.Event()
        self._said_all = threading.Event()  # its output ended (it exited)
        self._child = RigChild("midi_tester_client", [servername, client, port], f"stand-in controller {client!r} on JACK server {servername!r}")
        try:
            ready = self._child.first_line().split("\t")  # once its ports exist: a controller plugged in
            self.out_name, self.in_name = ready[1], ready[2]
            self._reader = threading.Thread(target=self._read, name=f"midi-tester-{client}", daemon=True)
            self._reader.start()
            self.client = jack.Client(f"{client}-control", no_start_server=True, servername=servername)
        except BaseException:
            self._child.close()
            raise
        if activate:
            self.activate()

    def activate(self, timeout: float = 10.0) -> None:
        """Start processing (returns once its client is active)."""
        self._tell("A")
        if not wait_until(self._active, self._said_all, timeout):
            child = self._child
            try:
                child.fail("was not active" + (" (it ended)" if self._said_all.is_set() else f" within {timeout:g} s"))
            finally:
                self.close()

    @property
    def out(self):
        """Its output port, looked up (for connections)."""
        return self.client.get_port_by_name(self.out_name)

    def _read(self) -> None:
        for line in self._child.process.stdout:
            kind, _, rest = line.rstrip("\n").partition(" ")
            try:
                if kind == "R":
                    frame, data = rest.split()
                    self.received.append((int(frame), bytes.fromhex(data)))
                elif kind == "W":
                    frame, first = rest.split()
                    self.written.append((int(frame), int(first)))
                elif kind == "E":
                    self.write_errors += 1
                elif kind == "L":
                    self.late_writes, self.late_reads = map(int, rest.split())
                elif kind == "active":
                    self._active.set()
            except ValueError:  # a line cut short as the child died
                pass
        self._said_all.set()

    def _tell(self, text: str) -> None:
        try:
            self._child.tell(text)
        except (BrokenPipeError, ValueError):  # it has ended: say so, with its last messages
            self._child.fail("ended")

    def frame_time(self) -> int:
        return self.client.frame_time

    def send_at(self, frame: int, data: bytes) -> None:
        self.send_many([(frame, data)])

    def send_many(self, events) -> None:
        """Queue (frame, bytes) events, which must come in frame order."""
        lines = [f"S {int(f)} {bytes(d).hex() or '-'}" for f, d in events]
        if lines:
            with self._send_lock:
                self._sent += len(lines)
                self._tell("\n".join(lines))

    def pending(self) -> int:
        """Events sent and neither written nor lost yet (as far as the child has said)."""
        return self._sent - len(self.written) - self.write_errors

    def close(self) -> None:
        if self._child is None:
            return
        child, self._child = self._child, None
        self.client.close()
        child.end()
        self._reader.join(timeout=5)  # it has read all the child said
        child.close()


def wait_until(event: threading.Event, ended: threading.Event, timeout: float) -> bool:
    """Wait for `event` (True) until `ended` is set or `timeout` s pass (False)."""
    deadline = time.monotonic() + timeout
    while not event.wait(0.01):
        if ended.is_set() or time.monotonic() > deadline:
            return event.is_set()
    return True


def led_colours(messages) -> dict[int, tuple[int, int, int]]:
    """Launchpad RGB SysEx (type 3: note, r, g, b at 0..127), as bytes or lists of ints, back to note -> its last colour."""
    out = {}
    for m in messages:
        m = list(m)
        if m[:1] != [0xF0] or len(m) < 9:
            continue
        body = m[7:-1]
        for i in range(0, len(body) - 4, 5):  # colour specs of 5 bytes
            kind, note, r, g, b = body[i:i + 5]
            if kind == 3:
                out[note] = (r, g, b)
    return out


def drawn_after_setup(messages, setup: bytes, notes) -> bool:
    """Whether the last `setup` message (a controller's mode switch) among `messages` (bytes) was followed by a colour
    for every note of `notes`: what a Launchpad shows once it is in programmer mode. liveengine may send the setup and
    the whole state twice when it connects a controller (control/midi/input.py, SETTLE_SECONDS)."""
    messages = list(messages)
    if setup not in messages:
        return False
    last = len(messages) - 1 - messages[::-1].index(setup)
    return set(notes) <= set(led_colours(messages[last:]))
