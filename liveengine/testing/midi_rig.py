"""A stand-in MIDI controller on JACK, for tests and the benchmark.

`MidiTester` is a JACK client with one MIDI output (what a controller sends) and one
MIDI input (what it receives: LED messages). It writes events at exact JACK frame
times and records what arrives with the frame it arrived at. Its port names can be
made to look like a controller's ("LPMiniMK3 MIDI"), so liveengine picks the
profile by name exactly as for hardware.
"""

from __future__ import annotations

import gc
import threading
from collections import deque


class StandInLate(AssertionError):
    """A JACK test failed after a stand-in controller wrote an event later than the frame it was asked for (that frame
    had passed before a cycle could write it: the server skipped cycles after a hold-up, or this process's interpreter
    lock held the callback) or ended a callback past its cycle: the notes were not where the test put them, so what
    the engine made of them cannot be judged; the failure is kept as the cause. The JACK pass of scripts/test.sh runs
    such a test once more, and the run's summary counts the rerun; a second failure fails the run."""


class MidiTester:
    MAX_EVENTS_PER_CYCLE = 64  # JACK's MIDI buffer holds a few KiB a cycle: spread floods over cycles
    late_total = 0  # every stand-in's late events and cycles so far, in this process: a mark for `stand_in_late`

    def __init__(self, servername: str, client: str = "LPMiniMK3", port: str = "LPMiniMK3 MIDI", activate: bool = True) -> None:
        import jack

        self.client = jack.Client(client, no_start_server=True, servername=servername)
        self.out = self.client.midi_outports.register(f"{port} out")
        self.inp = self.client.midi_inports.register(f"{port} in")
        self._pending: deque = deque()  # (absolute frame, bytes), in frame order
        self._lock = threading.Lock()
        self.received: list[tuple[int, bytes]] = []
        self.written: list[tuple[int, int]] = []  # (frame written at, first byte) per event
        self.write_errors = 0
        self.late_writes = 0  # events written in a cycle whose callback ended late (see _process)
        self.late_reads = 0  # cycles whose events were read by a callback that ended late (see _process)
        self.off_frame = 0  # events written after their frame had passed (see _process)
        self.client.set_process_callback(self._process)
        if activate:
            self.activate()

    def activate(self) -> None:
        """Start processing. Until then the ports exist but no Python runs on JACK's thread, so rtmidi
        may open its clients meanwhile (see liveengine/control/midi/ports.py).

        Its callback is Python, so it waits for this process's interpreter lock: the heap as it is now is frozen
        out of the garbage collector's reach (as Capture does), so a collection of the suite's heap cannot hold
        a callback up for many cycles and bunch what it writes (a MIDI clock's ticks then arrive together)."""
        gc.collect()
        gc.freeze()
        self.client.activate()

    @property
    def out_name(self) -> str:
        return self.out.name

    @property
    def in_name(self) -> str:
        return self.inp.name

    def _process(self, frames: int) -> None:
        start = self.client.last_frame_time
        self.out.clear_buffer()
        written = 0
        with self._lock:
            while self._pending and written < self.MAX_EVENTS_PER_CYCLE:
                frame, data = self._pending[0]
                if frame >= start + frames:
                    break
                if written and len(data) > self.out.max_event_size:
                    # This cycle's MIDI buffer is full (events queued for frames a late callback already passed
                    # arrive together): the rest waits for the next cycle, in order, as a controller's bandwidth
                    # would hold them.
                    break
                self._pending.popleft()
                if frame < start:  # its frame passed before a cycle could write it: skipped by the server, or held here
                    self.off_frame += 1
                    MidiTester.late_total += 1
                offset = max(0, frame - start)
                try:
                    self.out.write_midi_event(offset, data)
                    self.written.append((start + offset, data[0] if data else -1))
                    written += 1
                except Exception:  # larger than an empty cycle's buffer, or before an earlier event: counted and lost
                    self.write_errors += 1
        read = 0
        for offset, data in self.inp.incoming_midi_events():
            self.received.append((start + offset, bytes(data)))
            read += 1
        if (written or read) and (self.client.frames_since_cycle_start >= frames or self.client.last_frame_time != start):
            # This callback ended after its cycle's deadline: JACK may have run the readers of its outputs without
            # what it wrote, and the writers of its input may have begun the next cycle's buffer while it read
            # (a stand-in Launchpad read its mode switch twice and never the colours written after it). A busy
            # test process, not the engine, lost them: a failing test can say so.
            self.late_writes += written
            self.late_reads += 1 if read else 0
            MidiTester.late_total += written + (1 if read else 0)

    def frame_time(self) -> int:
        return self.client.frame_time

    def send_at(self, frame: int, data: bytes) -> None:
        with self._lock:
            self._pending.append((int(frame), bytes(data)))

    def send_many(self, events) -> None:
        """Queue (frame, bytes) events, which must come in frame order."""
        with self._lock:
            self._pending.extend((int(f), bytes(d)) for f, d in events)

    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    def close(self) -> None:
        if self.client is None:
            return
        self.client.deactivate()
        self.client.close()
        self.client = None
        gc.unfreeze()  # what was frozen can be collected again once it is garbage


def stand_in_late(mark: int, failure: BaseException) -> StandInLate | None:
    """`failure` as a StandInLate (it the cause) if a stand-in of this process wrote or read late since `mark`
    (MidiTester.late_total then), else None."""
    late = MidiTester.late_total - mark
    if late <= 0:
        return None
    told = StandInLate(f"a stand-in controller wrote or read {late} time(s) late while the test ran (events past their "
                       f"frames, or callbacks past their cycles), and it failed: {type(failure).__name__}: {str(failure)[:500]}")
    told.__cause__ = failure
    return told


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
