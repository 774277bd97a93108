"""PortAudio through python-sounddevice: any host API (ALSA, JACK, CoreAudio, WASAPI, ASIO)."""

from __future__ import annotations

import ctypes
import time
from typing import Any

from liveengine.audio.backend import ProcessFn
from liveengine.errors import LiveEngineError

CLIENT_NAME = b"liveengine"


def import_sounddevice() -> Any:
    """Import sounddevice, turning a missing PortAudio library into an actionable error."""
    try:
        import sounddevice
    except OSError as exc:
        raise LiveEngineError(
            f"the PortAudio library is missing ({exc}).",
            "Install it: on Debian/Ubuntu `sudo apt-get install libportaudio2`, on Fedora `sudo dnf install portaudio`, on macOS it ships inside the sounddevice wheel.",
        ) from None
    return sounddevice


def open_failure_fix(refused: int, device_rate: float) -> str:
    """What to try when a device would not open at `refused` Hz: the device's own rate first (a JACK server
    runs at one rate only, and PortAudio reports it as the device's), and never the rate just refused."""
    from liveengine.options import SAMPLE_RATES

    rate = int(round(device_rate or 0))
    if rate in SAMPLE_RATES and rate != refused:
        return f"The device runs at {rate} Hz: try --samplerate {rate}, or another --blocksize or --device."
    others = " or ".join(str(r) for r in SAMPLE_RATES if r != refused)
    return f"Try --samplerate {others}, or another --blocksize or --device."


def name_jack_client(sd: Any) -> None:
    """Make PortAudio's JACK ports appear as liveengine:out_N (re-initialises PortAudio)."""
    try:
        lib = ctypes.CDLL(sd._libname)
        lib.PaJack_SetClientName(CLIENT_NAME)
    except (OSError, AttributeError):
        return  # a PortAudio without JACK: nothing to name
    sd._terminate()
    sd._initialize()


def find_output_device(sd: Any, device: str | int | None) -> int:
    """Resolve '' (default), an index, or a name (or part of one) to an output device index."""
    try:
        devices = sd.query_devices()
    except Exception as exc:
        raise LiveEngineError(f"PortAudio cannot list audio devices ({exc}).") from None
    outputs = [i for i, d in enumerate(devices) if d["max_output_channels"] > 0]
    if not outputs:
        raise LiveEngineError("no audio output device found.", "Connect an audio interface or start a sound server (JACK or PipeWire).")
    if device in ("", None):
        default = sd.default.device[1]
        if default is None or default < 0 or default not in outputs:
            default = outputs[0]
        return default
    if isinstance(device, int) or (isinstance(device, str) and device.isdigit()):
        index = int(device)
        if index not in outputs:
            raise LiveEngineError(f"audio device {index} is not an output device; outputs: {_listing(sd, outputs)}.")
        return index
    matches = [i for i in outputs if device.lower() in f"{devices[i]['name']} {sd.query_hostapis(devices[i]['hostapi'])['name']}".lower()]
    if not matches:
        raise LiveEngineError(f"no output device matches {device!r}; outputs: {_listing(sd, outputs)}.", "Run `liveengine devices` to see them.")
    return matches[0]


def _listing(sd: Any, outputs: list[int]) -> str:
    devices = sd.query_devices()
    return "; ".join(f"{i}: {devices[i]['name']}" for i in outputs)


class SoundDeviceBackend:
    def __init__(self, device: str | int, samplerate: int, blocksize: int, channels: int, jack_ports: list[str] | None = None,
                 fallback: str | int = "", audio_in: bool = False) -> None:
        self.sd = import_sounddevice()
        self.audio_in_wanted = audio_in  # a duplex stream: the device's first input channel goes to `audio_in`
        self.audio_in = None  # audio_in(samples): mono float32 view of the block's input (set by the server)
        self.device_spec = device
        self.fallback = fallback  # opened instead when `device` is not there
        self.samplerate = samplerate
        self.blocksize = blocksize
        self.channels = channels
        self.jack_ports = list(jack_ports or [])
        self.output_latency = 0.0
        self.description = ""
        self.host_api = ""
        self._stream = None
        self._process: ProcessFn | None = None

    def start(self, process: ProcessFn) -> None:
        sd = self.sd
        self._process = process
        try:
            index = find_output_device(sd, self.device_spec)
        except LiveEngineError:
            if self.fallback in ("", self.device_spec) and self.device_spec not in ("", None):
                raise
            # The patch's device is gone (unplugged): a replacement server plays on the fallback.
            index = find_output_device(sd, self.fallback)
        info = sd.query_devices(index)
        self.host_api = sd.query_hostapis(info["hostapi"])["name"]
        if info["max_output_channels"] < self.channels:
            raise LiveEngineError(f"audio device {info['name']!r} has {info['max_output_channels']} output channels; the patch needs {self.channels}.",
                                  "Lower [audio] output/channels in the patch or pick another device with --device.")
        duplex = self.audio_in_wanted and info["max_input_channels"] >= 1
        try:
            sd.check_output_settings(device=index, channels=self.channels, dtype="float32", samplerate=self.samplerate)
            if duplex:  # the same device's first input (timbre transfer), in the same callback as the output
                self._stream = sd.Stream(device=(index, index), samplerate=self.samplerate, blocksize=self.blocksize,
                                         channels=(1, self.channels), dtype="float32", callback=self._duplex_callback, latency="low")
            else:
                self._stream = sd.OutputStream(device=index, samplerate=self.samplerate, blocksize=self.blocksize, channels=self.channels,
                                               dtype="float32", callback=self._callback, latency="low")
            self._stream.start()
        except sd.PortAudioError as exc:
            raise LiveEngineError(f"cannot open {info['name']!r} ({self.host_api}) at {self.samplerate} Hz, {self.blocksize} frames: {exc}.",
                                  open_failure_fix(self.samplerate, info["default_samplerate"])) from None
        latency = self._stream.latency
        self.output_latency = float(latency[1] if duplex else latency)
        self.description = f"{info['name']} via {self.host_api}, {self.samplerate} Hz, {self.blocksize}-frame blocks, output latency {self.output_latency * 1000:.1f} ms"
        if duplex:
            self.description += f", audio input 1 (input latency {float(latency[0]) * 1000:.1f} ms)"
        elif self.audio_in_wanted:
            self.description += ", no audio input (the device has none)"
        if self.jack_ports and "JACK" in self.host_api:
            try:
                connect_jack_ports(CLIENT_NAME.decode(), self.jack_ports)
            except LiveEngineError:
                self.stop()  # no half-open stream playing to the default ports
                raise

    def _callback(self, outdata, frames, time_info, status) -> None:
        entered = time.perf_counter()
        # Lateness by PortAudio's own clock: from the host API starting the cycle to
        # this Python code running (the GIL wait shows here). Some host APIs give 0.
        current = time_info.currentTime
        stream = self._stream  # None once stop() began: the last callback may still be running
        lateness = stream.time - current if current > 0.0 and stream is not None else 0.0
        self._process(outdata, frames, entered, lateness, bool(status.output_underflow))

    def _duplex_callback(self, indata, outdata, frames, time_info, status) -> None:
        audio_in = self.audio_in
        if audio_in is not None:
            audio_in(indata[:, 0])
        self._callback(outdata, frames, time_info, status)

    def stop(self) -> None:
        """Stop and close the stream, then shut PortAudio down, which closes its JACK client properly
        (a client that just vanishes stalls the JACK server for seconds). Server process only: if the
        host API hangs here, the server's main thread gives up on it and the process exits anyway."""
        stream, self._stream = self._stream, None
        if stream is not None:
            try:
                stream.abort()  # not stop(): nothing queued needs to play out when the server goes
                stream.close()
            except self.sd.PortAudioError:
                pass  # a device that is already gone
        self.sd._terminate()


def connect_jack_ports(client_name: str, targets: list[str]) -> None:
    """Connect client_name's output ports, in order, to the named JACK ports."""
    import jack

    patchbay = jack.Client("liveengine-patchbay", no_start_server=True)
    try:
        ours = patchbay.get_ports(f"{client_name}:", is_output=True, is_audio=True)
        for port in ours:
            for other in patchbay.get_all_connections(port):
                patchbay.disconnect(port, other)
        missing = [t for t in targets if not patchbay.get_ports(t.replace("(", r"\(").replace(")", r"\)"))]
        if missing:
            names = ", ".join(p.name for p in patchbay.get_ports(is_input=True, is_audio=True))
            raise LiveEngineError(f"JACK port {missing[0]!r} (patch [audio] jack_ports) does not exist; input ports: {names}.")
        for port, target in zip(ours, targets):
            patchbay.connect(port, target)
    finally:
        patchbay.close()
