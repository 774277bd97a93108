"""A native JACK client (JACK-Client): named ports, one process callback, nothing else.

Used when the patch asks for `backend = "jack"`, or for "auto" (the default) when a JACK
server runs and no PortAudio device is named. It runs in the audio server
process; when the JACK server goes away, that process is replaced (see
server/client.py), so this client never has to recover in place. Xruns are
counted inside the process callback, from JACK's own frame clock, so no second
Python callback thread (JACK's xrun and shutdown callbacks) competes with it.
"""

from __future__ import annotations

import os
import time
from typing import Callable

import numpy as np

from liveengine.audio.backend import ProcessFn
from liveengine.audio.spec import LED_PORT, MIDI_OUTPUTS, MIDI_PORTS
from liveengine.errors import LiveEngineError

CLIENT_NAME = "liveengine"


def jack_server_running(servername: str | None = None) -> bool:
    """Whether a JACK server answers (jackd, or PipeWire's JACK): a client opened and closed at once,
    never starting a server, with libjack's "cannot connect" lines kept off the terminal."""
    try:
        import jack
    except (ImportError, OSError):  # no libjack: no JACK server either
        return False
    jack.set_error_function(lambda message: None)
    jack.set_info_function(lambda message: None)
    try:
        client = jack.Client("liveengine-probe", no_start_server=True, servername=servername)
    except jack.JackError:
        return False
    finally:
        jack.set_error_function(None)
        jack.set_info_function(None)
    client.close()
    return True


class JackBackend:
    def __init__(self, samplerate: int, blocksize: int, channels: int, jack_ports: list[str] | None = None,
                 servername: str | None = None, midi_in: bool = False, midi_out: bool = False, audio_in: bool = False,
                 audio_in_port: str = "") -> None:
        self.servername = servername  # None: $JACK_DEFAULT_SERVER or "default", as every JACK client
        self.samplerate = samplerate
        self.blocksize = blocksize
        self.channels = channels
        self.jack_ports = list(jack_ports or [])
        self.output_latency = 0.0
        self.description = ""
        self._client = None
        self._ports: list = []
        self._block = np.zeros((1024, channels), dtype=np.float32)
        self._process: ProcessFn | None = None
        self._last_cycle = None  # JACK's frame time at the previous cycle's start
        self._cycle = 0  # and at this one's (cycle_dropped)
        self._late = False  # the previous callback ended after its cycle's deadline
        self.midi_in = midi_in
        self._midi_ports: list = []
        # midi(port, offset, data): each raw MIDI event of this cycle, before the block is computed (set by the server).
        self.midi: Callable[[int, int, object], None] | None = None
        self.midi_out = midi_out
        # The MIDI outputs by the MIDI-out FIFO's port index (audio/spec.py): midi_out_1 with `midi_out`, an
        # LED output per MIDI input with `midi_in`; None where there is none.
        self._midi_out_ports: list = [None] * MIDI_OUTPUTS
        self._midi_outs: list = []  # the ones that exist, cleared every cycle
        # midi_writer(frames, sink): after the block is computed, writes this cycle's MIDI-out messages through
        # this backend's write_midi and write_sysex (set by the server: rt/midi_out.py).
        self.midi_writer: Callable[[int, object], None] | None = None
        self._scratch = [bytearray(n) for n in range(4)]  # one message's bytes by size: no allocation per event
        # audio_in(samples): the input port's block (a view of JACK's buffer), before the block is computed (set by the server).
        self.audio_in_wanted, self.audio_in_port = audio_in, audio_in_port
        self.audio_in: Callable[[np.ndarray], None] | None = None
        self._in_port = None

    def start(self, process: ProcessFn) -> None:
        import jack

        self._process = process
        try:
            client = jack.Client(CLIENT_NAME, no_start_server=True, servername=self.servername)
        except jack.JackOpenError:
            named = self.servername or os.environ.get("JACK_DEFAULT_SERVER")
            raise LiveEngineError(f"no JACK server {'named ' + repr(named) + ' ' if named else ''}is running.",
                                  "Start one (e.g. `jackd -d alsa` or QjackCtl), or set [audio] backend = \"sounddevice\".") from None
        if client.samplerate != self.samplerate:
            # JACK sets the rate; the engine follows it rather than failing.
            self.samplerate = client.samplerate
        if client.blocksize > len(self._block):
            client.close()
            raise LiveEngineError(f"the JACK period is {client.blocksize} frames; liveengine handles up to 1024.", "Lower the JACK period (-p).")
        self.blocksize = client.blocksize
        self._client = client  # from here on, stop() closes it properly if anything below fails
        self._ports = [client.outports.register(f"out_{i}") for i in range(self.channels)]
        if self.midi_in:
            # One port per controller, so each keeps its own profile and running status (see control/midi/server_ports.py).
            self._midi_ports = [client.midi_inports.register(f"midi_in_{i + 1}") for i in range(MIDI_PORTS)]
        if self.midi_out:
            self._midi_out_ports[0] = client.midi_outports.register("midi_out_1")
        if self.midi_in:  # each controller's LEDs, through this client: they come back with it after a JACK restart
            for i in range(MIDI_PORTS):
                self._midi_out_ports[LED_PORT + i] = client.midi_outports.register(f"leds_{i + 1}")
        self._midi_outs = [port for port in self._midi_out_ports if port is not None]
        if self.audio_in_wanted:
            self._in_port = client.inports.register("in_1")
        client.set_process_callback(self._callback)
        client.activate()
        targets = self.jack_ports or [p.name for p in client.get_ports(is_physical=True, is_input=True, is_audio=True)][: self.channels]
        for port, target in zip(self._ports, targets):
            try:
                client.connect(port, target)
            except jack.JackError as exc:
                raise LiveEngineError(f"cannot connect {port.name} to JACK port {target!r}: {exc}.") from None
        in_note = ""
        if self._in_port is not None and self.audio_in_port:
            try:
                client.connect(self.audio_in_port, self._in_port)
            except jack.JackError as exc:  # the source went away: the input is silence until someone connects one
                in_note = f" (not connected to {self.audio_in_port!r}: {str(exc)[:80]})"
        # JACK-Client does not expose port latency ranges; one period is the least it can be.
        self.output_latency = self.blocksize / self.samplerate
        self.description = f"JACK client {client.name}, {self.samplerate} Hz, {self.blocksize}-frame periods, output latency {self.output_latency * 1000:.1f} ms"
        if self._in_port is not None:
            self.description += f", audio input {self._in_port.shortname}{in_note}"
        if self._midi_ports:  # made again by every new server (after a JACK restart too): say so
            self.description += (f", MIDI inputs {self._midi_ports[0].shortname}..{self._midi_ports[-1].shortname}"
                                 f" with LED outputs leds_1..leds_{MIDI_PORTS}")
        if self._midi_out_ports[0] is not None:
            self.description += f", MIDI output {self._midi_out_ports[0].shortname}"

    def _callback(self, frames: int) -> None:
        entered = time.perf_counter()
        client = self._client
        cycle = self._cycle = client.last_frame_time
        lateness = (client.frame_time - cycle) / self.samplerate
        # An xrun: the last callback ended after its cycle's deadline (JACK then reports an xrun, but
        # with the dummy driver no frame is skipped), or a cycle starts more than one period after the
        # last one (cycles were lost).
        xrun = self._late or (self._last_cycle is not None and cycle - self._last_cycle > frames)
        self._last_cycle = cycle
        if self.midi is not None:
            for i, port in enumerate(self._midi_ports):
                for offset, data in port.incoming_midi_events():
                    self.midi(i, offset, data)
        if self._in_port is not None and self.audio_in is not None:
            self.audio_in(self._in_port.get_array())
        block = self._block[:frames]
        self._process(block, frames, entered, lateness, xrun)
        for i, port in enumerate(self._ports):
            port.get_array()[:] = block[:, i]
        if self._midi_outs:
            for port in self._midi_outs:
                port.clear_buffer()  # every cycle, written or not
            if self.midi_writer is not None:
                self.midi_writer(frames, self)
        self._late = client.frames_since_cycle_start >= frames  # counted with the next block

    def cycle_dropped(self) -> bool:
        """Whether JACK has begun its next cycle while this callback runs (audio thread): it then calls back again at
        once for the new cycle, and what this one wrote into its MIDI outputs reaches no reader whole (rt/midi_out.py)."""
        return self._client.last_frame_time != self._cycle

    def connections(self, port: int) -> int:
        """How many ports MIDI output `port` feeds in this cycle's graph (audio thread; 0 for no such output)."""
        out = self._midi_out_ports[port] if 0 <= port < MIDI_OUTPUTS else None
        return 0 if out is None else out.number_of_connections

    def write_midi(self, port: int, offset: int, size: int, status: int, data1: int, data2: int) -> bool:
        """One short message into this cycle's buffer of output `port` (audio thread); False if there is no room."""
        if not 0 <= port < MIDI_OUTPUTS or not 1 <= size <= 3 or self._midi_out_ports[port] is None:
            return False
        buffer = self._midi_out_ports[port].reserve_midi_event(offset, size)
        if len(buffer) < size:
            return False
        scratch = self._scratch[size]
        scratch[0] = status
        if size > 1:
            scratch[1] = data1
        if size > 2:
            scratch[2] = data2
        buffer[:size] = scratch
        return True

    def write_sysex(self, port: int, offset: int, ring, at: int, size: int) -> bool:
        """One long message, `size` bytes of the byte `ring` from index `at` (wrapping), into this cycle's buffer
        of output `port` (audio thread); False if there is no room."""
        if not 0 <= port < MIDI_OUTPUTS or self._midi_out_ports[port] is None:
            return False
        buffer = self._midi_out_ports[port].reserve_midi_event(offset, size)
        if len(buffer) < size:
            return False
        head = min(size, len(ring) - at)
        buffer[:head] = ring[at : at + head]
        if head < size:
            buffer[head:size] = ring[: size - head]
        return True

    def now(self) -> float:
        return time.perf_counter()

    def stop(self) -> None:
        client = self._client
        if client is None:
            return
        try:
            client.deactivate()  # no callback runs after this returns
        except Exception:  # noqa: BLE001 - never activated (start failed before): close it anyway
            pass
        client.close()
        self._client = None
