"""MIDI out: short messages at engine frames, through the audio server's JACK MIDI output or an rtmidi port.

Two sinks behind one method, `send(frame, status, data1, data2) -> queued?`:

- `ServerMidiOut`: on the native JACK backend started with `midi_out`, a record in the MIDI-out FIFO
  (server/layout.py), written by the server's callback at its exact frame on `liveengine:midi_out_1`
  (rt/midi_out.py). Any control thread may send (the FIFO's producer lock).
- `RtMidiOut`: elsewhere, a virtual rtmidi output port `liveengine out`; a sender thread holds the
  messages in a bounded heap and sends each when the engine clock reaches its frame (host time from
  the clock's last callback), sleeping until a millisecond before and then waiting in short sleeps.
  How late each left is kept (`lateness`, seconds) for bench/groove_sync.py.

A full FIFO or heap is a counted drop (`dropped`), never a wait.
"""

from __future__ import annotations

import heapq
import threading
import time
from typing import Callable

from liveengine.server.fifo import FifoWriter

OUT_PORT = "liveengine out"
HEAP_LIMIT = 4096
SPIN_SECONDS = 0.001  # the sender sleeps until this long before a message, then in 0.1 ms steps


def message_size(status: int) -> int:
    kind = status & 0xF0
    return 2 if kind in (0xC0, 0xD0) else 3 if status < 0xF0 else 1


class ServerMidiOut:
    name = "JACK MIDI output liveengine:midi_out_1"

    def __init__(self, state, port: int = 0) -> None:
        self.fifo = FifoWriter(state, "midi_out")
        self.port = port
        self.sent = 0
        self.dropped = 0

    def send(self, frame: int, status: int, data1: int = 0, data2: int = 0) -> bool:
        if self.fifo.put((int(frame), self.port, message_size(status), status, data1, data2, 0)) < 0:
            self.dropped += 1
            return False
        self.sent += 1
        return True

    def close(self) -> None:
        pass


class RtMidiOut:
    def __init__(self, midi_out, time_of_frame: Callable[[int], float | None], now: Callable[[], float] = time.perf_counter,
                 keep_lateness: int = 0) -> None:
        """midi_out: an rtmidi MidiOut with its port open; time_of_frame(frame) -> host time (None before the stream runs)."""
        self.midi_out = midi_out
        self.time_of_frame = time_of_frame
        self.now = now
        self.sent = 0
        self.dropped = 0
        self.lateness: list[float] = []
        self._keep = keep_lateness
        self._heap: list = []
        self._seq = 0
        self._lock = threading.Condition()
        self._stop = False
        self._thread = threading.Thread(target=self._loop, name="liveengine-midi-out", daemon=True)
        self._thread.start()
        self.name = f"rtmidi output '{OUT_PORT}'"

    @classmethod
    def virtual(cls, api: str, time_of_frame, **kwargs) -> "RtMidiOut":
        from liveengine.control.midi import ports

        midi_out = ports.open_output(api, ports.CLIENT)
        midi_out.open_virtual_port(OUT_PORT)
        return cls(midi_out, time_of_frame, **kwargs)

    def send(self, frame: int, status: int, data1: int = 0, data2: int = 0) -> bool:
        message = [status, data1, data2][: message_size(status)]
        with self._lock:
            if len(self._heap) >= HEAP_LIMIT:
                self.dropped += 1
                return False
            self._seq += 1
            heapq.heappush(self._heap, (int(frame), self._seq, message))
            self._lock.notify()
        return True

    def _loop(self) -> None:
        while True:
            with self._lock:
                while not self._heap and not self._stop:
                    self._lock.wait(0.1)
                if self._stop:
                    return
                frame, _, message = self._heap[0]
            due = self.time_of_frame(frame)
            if due is None:  # no stream yet: try again shortly
                time.sleep(0.001)
                continue
            wait = due - self.now()
            if wait > SPIN_SECONDS:
                with self._lock:
                    self._lock.wait(wait - SPIN_SECONDS)  # a new, earlier message wakes it
                continue
            while wait > 0:
                time.sleep(min(wait, 0.0001))
                wait = due - self.now()
            with self._lock:
                if not self._heap or self._heap[0][0] != frame:
                    continue
                heapq.heappop(self._heap)
            self.midi_out.send_message(message)
            self.sent += 1
            if self._keep:
                self.lateness.append(self.now() - due)
                if len(self.lateness) > self._keep:
                    del self.lateness[: len(self.lateness) - self._keep]

    def close(self) -> None:
        with self._lock:
            self._stop = True
            self._lock.notify()
        self._thread.join(timeout=1.0)
        try:
            self.midi_out.close_port()
            self.midi_out.delete()
        except Exception:  # noqa: BLE001 - closing a port whose MIDI system went away must not stop shutdown
            pass
