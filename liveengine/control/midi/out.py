"""MIDI out: short messages at engine frames, through the audio server's JACK MIDI output or an rtmidi port.

Two sinks behind one method, `send(frame, status, data1, data2) -> queued?`:

- `ServerMidiOut`: on the native JACK backend started with `midi_out`, a record in the MIDI-out FIFO
  (server/layout.py), written by the server's callback at its exact frame on `liveengine:midi_out_1`
  (rt/midi_out.py). Any control thread may send (the producer's lock: `ServerMidiFifo`, one per
  engine, which the controllers' LED outputs share).
- `RtMidiOut`: elsewhere, a virtual rtmidi output port `liveengine out`; a sender thread holds the
  messages in a bounded heap and sends each when the engine clock reaches its frame (host time from
  the clock's last callback), sleeping until a millisecond before and then waiting in short sleeps.
  How late each left is kept (`lateness`, seconds) for bench/groove_sync.py.

A full FIFO or heap is a counted drop (`dropped`), never a wait.

`ServerLedPort` is a controller's LED output on the same FIFO (`liveengine:leds_N`, made by the audio
server beside its MIDI input `midi_in_N`): it takes rtmidi's `send_message(bytes)`, SysEx included, so
the LED code drives it as it drives an rtmidi output, and its port comes back with the audio server
after a JACK restart (rtmidi's JACK ports do not).
"""

from __future__ import annotations

import heapq
import threading
import time
from typing import Callable

from liveengine.errors import LiveEngineError
from liveengine.server.fifo import FifoWriter
from liveengine.server.layout import MAX_SYSEX_OUT

OUT_PORT = "liveengine out"
HEAP_LIMIT = 4096
SPIN_SECONDS = 0.001  # the sender sleeps until this long before a message, then in 0.1 ms steps


def message_size(status: int) -> int:
    kind = status & 0xF0
    return 2 if kind in (0xC0, 0xD0) else 3 if status < 0xF0 else 1


ASAP = -1  # a MIDI-out frame meaning "in the server's next cycle", never counted late


class ServerMidiFifo:
    """The one producer of the audio server's MIDI-out FIFO and its byte ring (one per engine: two writers
    would each believe they own the FIFO's count). Any control thread may call it.

    A message of up to 3 bytes travels in its record; a longer one must be one whole SysEx (F0, data
    bytes, F7) of at most MAX_SYSEX_OUT bytes: its bytes go into the byte ring first, then the record
    that publishes them. A full FIFO or ring is a counted drop (`dropped`); a message too long or not
    a SysEx is refused with LiveEngineError and counted (`refused`)."""

    def __init__(self, state) -> None:
        self.fifo = FifoWriter(state, "midi_out")
        self.ring = state.midi_out_ring
        self._ring_read = state.midi_out_bytes_read
        # Nothing is queued when an engine makes its one producer: the ring is empty up to what the server released.
        self.ring_written = self._ring_read.load()
        self._lock = threading.Lock()
        self.dropped = 0
        self.refused = 0

    def put(self, frame: int, port: int, status: int, data1: int = 0, data2: int = 0) -> bool:
        """A short message (its size from its status byte); False if the FIFO is full (counted)."""
        with self._lock:
            queued = self.fifo.put((int(frame), self.fifo.written, 0, port, message_size(status), status, data1, data2, 0)) >= 0
        if not queued:
            self.dropped += 1
        return queued

    def put_bytes(self, frame: int, port: int, message) -> bool:
        """Any message as bytes (a list of ints, bytes): short ones as `put`, a SysEx through the byte ring.
        False if the FIFO or the ring is full (counted); LiveEngineError if it is too long or malformed."""
        size = len(message)
        if 1 <= size <= 3 and message[0] != 0xF0:
            if message_size(message[0]) != size:
                self.refused += 1
                raise LiveEngineError(f"MIDI message {bytes(message).hex(' ')} has {size} bytes; its status byte "
                                      f"{message[0]:02X} takes {message_size(message[0])}.")
            return self.put(frame, port, *message)
        if size > MAX_SYSEX_OUT:
            self.refused += 1
            raise LiveEngineError(f"a SysEx of {size} bytes is longer than the {MAX_SYSEX_OUT} bytes the audio server's "
                                  f"MIDI output takes; it was not sent.", f"Split it into messages of at most {MAX_SYSEX_OUT} bytes.")
        data = bytes(message)
        if size < 2 or data[0] != 0xF0 or data[-1] != 0xF7 or max(data[1:-1], default=0) > 0x7F:
            self.refused += 1
            raise LiveEngineError(f"MIDI message of {size} bytes starting {data[:4].hex(' ')} is not one whole SysEx "
                                  f"(F0, data bytes under 80, F7); only those may be longer than 3 bytes.")
        ring, capacity = self.ring, len(self.ring)
        with self._lock:
            at = self.ring_written
            if at + size - self._ring_read.load() > capacity:
                self.dropped += 1
                return False
            start = at % capacity
            head = min(size, capacity - start)
            ring[start : start + head] = memoryview(data)[:head]
            if head < size:
                ring[: size - head] = memoryview(data)[head:]
            if self.fifo.put((int(frame), self.fifo.written, at, port, size, 0, 0, 0, 0)) < 0:
                self.dropped += 1
                return False
            self.ring_written = at + size
        return True


class ServerMidiOut:
    name = "JACK MIDI output liveengine:midi_out_1"

    def __init__(self, fifo: ServerMidiFifo, port: int = 0) -> None:
        self.fifo = fifo
        self.port = port
        self.sent = 0
        self.dropped = 0

    def send(self, frame: int, status: int, data1: int = 0, data2: int = 0) -> bool:
        if not self.fifo.put(frame, self.port, status, data1, data2):
            self.dropped += 1
            return False
        self.sent += 1
        return True

    def close(self) -> None:
        pass


class ServerLedPort:
    """A controller's LED output through the audio server (`liveengine:leds_{index + 1}`), with rtmidi's
    `send_message`: each message goes out in the server's next cycle, in the order sent."""

    def __init__(self, fifo: ServerMidiFifo, index: int) -> None:
        from liveengine.audio.spec import LED_PORT

        self.fifo = fifo
        self.port = LED_PORT + index
        self.name = f"liveengine:leds_{index + 1}"

    def send_message(self, message) -> bool:
        """Queue one message; False if the FIFO or byte ring is full (counted there); LiveEngineError if refused."""
        return self.fifo.put_bytes(ASAP, self.port, message)


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
