"""A native JACK client (JACK-Client): named ports, and it comes back when the server does.

Used when the patch asks for `backend = "jack"`, and as the way back after a JACK
server behind PortAudio went away (PortAudio cannot re-initialise its JACK host
API in the same process).
"""

from __future__ import annotations

import time

import numpy as np

from liveengine.audio.backend import ProcessFn
from liveengine.errors import LiveEngineError

CLIENT_NAME = "liveengine"


class JackBackend:
    def __init__(self, samplerate: int, blocksize: int, channels: int, jack_ports: list[str] | None = None,
                 servername: str | None = None) -> None:
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
        self._shutdown = False
        self._xrun = False

    def server_running(self) -> bool:
        import jack

        try:
            probe = jack.Client("liveengine-probe", no_start_server=True, servername=self.servername)
        except jack.JackOpenError:
            return False
        probe.close()
        return True

    def start(self, process: ProcessFn) -> None:
        import jack

        self._process = process
        try:
            client = jack.Client(CLIENT_NAME, no_start_server=True, servername=self.servername)
        except jack.JackOpenError:
            raise LiveEngineError("no JACK server is running.", "Start one (e.g. `jackd -d alsa` or QjackCtl), or set [audio] backend = \"sounddevice\".") from None
        if client.samplerate != self.samplerate:
            # JACK sets the rate; the engine follows it rather than failing.
            self.samplerate = client.samplerate
        if client.blocksize > len(self._block):
            client.close()
            raise LiveEngineError(f"the JACK period is {client.blocksize} frames; liveengine handles up to 1024.", "Lower the JACK period (-p).")
        self.blocksize = client.blocksize
        self._ports = [client.outports.register(f"out_{i}") for i in range(self.channels)]
        client.set_process_callback(self._callback)
        client.set_shutdown_callback(self._on_shutdown)
        client.set_xrun_callback(self._on_xrun)
        self._client = client
        self._shutdown = False
        client.activate()
        targets = self.jack_ports or [p.name for p in client.get_ports(is_physical=True, is_input=True, is_audio=True)][: self.channels]
        for port, target in zip(self._ports, targets):
            try:
                client.connect(port, target)
            except jack.JackError as exc:
                raise LiveEngineError(f"cannot connect {port.name} to JACK port {target!r}: {exc}.") from None
        # JACK-Client does not expose port latency ranges; one period is the least it can be.
        self.output_latency = self.blocksize / self.samplerate
        self.description = f"JACK client {client.name}, {self.samplerate} Hz, {self.blocksize}-frame periods, output latency {self.output_latency * 1000:.1f} ms"

    def _callback(self, frames: int) -> None:
        entered = time.perf_counter()
        client = self._client
        lateness = (client.frame_time - client.last_frame_time) / self.samplerate
        block = self._block[:frames]
        xrun, self._xrun = self._xrun, False
        self._process(block, frames, entered, lateness, xrun)
        for i, port in enumerate(self._ports):
            port.get_array()[:] = block[:, i]

    def _on_shutdown(self, status, reason) -> None:
        self._shutdown = True

    def _on_xrun(self, delay) -> None:
        self._xrun = True

    def now(self) -> float:
        return time.perf_counter()

    @property
    def alive(self) -> bool:
        return self._client is not None and not self._shutdown

    def stop(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        if self._shutdown:
            _forget(client)
        else:
            client.deactivate()
            client.close()

    def recover(self) -> "JackBackend | None":
        if self._client is not None:
            _forget(self._client)  # it died with its server
            self._client = None
        return self if self.server_running() else None


def _forget(client) -> None:
    """Drop a client whose server is gone without calling jack_client_close on it.

    libjack crashes (SIGSEGV) closing such a client, and JACK-Client closes clients
    when they are garbage-collected; clearing its handle makes that close a no-op.
    """
    import jack

    client._ptr = jack._ffi.NULL
