"""Which device the audio server opens: a small value the control process sends to the server process.

The control process never imports an audio library: PortAudio's import alone opens
a JACK client of its own. The server process turns this into a backend.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

MIDI_PORTS = 4  # MIDI inputs of a server that reads MIDI (native JACK): one per controller
# The server's MIDI outputs by index (the MIDI-out FIFO's `port`): 0 is midi_out_1 (the groove's notes, with
# `midi_out`); LED_PORT + i is leds_{i+1}, the LED output of the controller on midi_in_{i+1} (with `midi_in`).
LED_PORT = 1
MIDI_OUTPUTS = LED_PORT + MIDI_PORTS
BACKEND_KINDS = ("sounddevice", "jack")


@dataclass(frozen=True)
class DeviceSpec:
    kind: str  # "sounddevice" (PortAudio: ALSA, JACK, CoreAudio, WASAPI, ASIO) or "jack" (native JACK client)
    samplerate: int
    blocksize: int
    channels: int
    device: str | int = ""  # PortAudio device name (or part of one) or index; "" for the default
    jack_ports: tuple[str, ...] = field(default_factory=tuple)
    fallback: str | int = ""  # PortAudio device to use when `device` is gone
    servername: str | None = None  # JACK server name (native JACK); None: $JACK_DEFAULT_SERVER or "default"
    midi_in: bool = False  # native JACK: MIDI inputs read inside the process callback (rt/midi_bytes.py), each with an LED output
    midi_out: bool = False  # native JACK: a MIDI output port written inside the process callback (rt/midi_out.py)
    audio_in: bool = False  # an audio input for timbre transfer: JACK port `in_1` (native JACK), or the device's first input (PortAudio duplex)
    audio_in_port: str = ""  # native JACK: the port to connect `in_1` from ("" leaves it for the user to connect)

    def __post_init__(self) -> None:
        if self.kind not in BACKEND_KINDS:
            raise ValueError(f"audio backend {self.kind!r}; allowed: {', '.join(BACKEND_KINDS)}")
        object.__setattr__(self, "jack_ports", tuple(self.jack_ports))

    @classmethod
    def portaudio(cls, device: str | int, samplerate: int, blocksize: int, channels: int, jack_ports=(), fallback: str | int = "",
                  audio_in: bool = False) -> "DeviceSpec":
        return cls("sounddevice", samplerate, blocksize, channels, device, tuple(jack_ports), fallback, audio_in=audio_in)

    @classmethod
    def jack(cls, samplerate: int, blocksize: int, channels: int, jack_ports=(), servername: str | None = None,
             midi_in: bool = False, midi_out: bool = False, audio_in: bool = False, audio_in_port: str = "") -> "DeviceSpec":
        return cls("jack", samplerate, blocksize, channels, jack_ports=tuple(jack_ports), servername=servername, midi_in=midi_in,
                   midi_out=midi_out, audio_in=audio_in, audio_in_port=audio_in_port)

    def as_dict(self) -> dict:
        return asdict(self)

    def create(self):
        """Server process only: the backend object (imports the audio library)."""
        if self.kind == "jack":
            from liveengine.audio.jack_backend import JackBackend

            return JackBackend(self.samplerate, self.blocksize, self.channels, list(self.jack_ports), servername=self.servername,
                               midi_in=self.midi_in, midi_out=self.midi_out, audio_in=self.audio_in, audio_in_port=self.audio_in_port)
        from liveengine.audio.sounddevice_backend import SoundDeviceBackend, import_sounddevice, name_jack_client

        name_jack_client(import_sounddevice())
        return SoundDeviceBackend(self.device, self.samplerate, self.blocksize, self.channels, list(self.jack_ports), fallback=self.fallback,
                                  audio_in=self.audio_in)
