"""rtmidi ports: which API, which ports exist, opening them the safe way.

The one rule: never give an rtmidi input a Python callback. rtmidi calls it from
its own thread, and with JACK that is JACK's real-time process thread: every
message would take the interpreter lock there and a busy Python thread would stall
the whole JACK graph (mido's rtmidi backend always installs one). Inputs here are
opened bare, with rtmidi's ring buffer bounded (`queue_size_limit`), and a control
thread polls `get_message()`.

rtmidi's timestamps are no help for timing: on JACK each event's time is read with
`jack_get_time()` while the cycle is processed, so every event of a cycle gets the
same time (nothing finer than one period), and the delta of an event rtmidi ignores
(SysEx) is lost. liveengine places notes on the engine clock itself (input.arrival_frame).
"""

from __future__ import annotations

import os
import sys
import tempfile

from liveengine.errors import LiveEngineError

CLIENT = "liveengine-midi"  # rtmidi client name (JACK client / ALSA sequencer client)
VIRTUAL_PORT = "liveengine"  # the virtual input a DAW sends to
QUEUE_LIMIT = 4096  # rtmidi's ring buffer per input: excess is dropped inside rtmidi (it prints a warning)
API_NAMES = ("alsa", "jack", "coremidi", "winmm")


def _rtmidi():
    try:
        import rtmidi
    except ImportError as exc:  # pragma: no cover - a dependency
        raise LiveEngineError(f"python-rtmidi cannot be imported ({exc}).", "Reinstall liveengine: pip install -e .") from None
    return rtmidi


def api_constant(name: str) -> int:
    rtmidi = _rtmidi()
    table = {"alsa": rtmidi.API_LINUX_ALSA, "jack": rtmidi.API_UNIX_JACK, "coremidi": rtmidi.API_MACOSX_CORE,
             "winmm": rtmidi.API_WINDOWS_MM}
    if name not in table:
        raise LiveEngineError(f"MIDI API {name!r} is unknown; allowed: {', '.join(API_NAMES)}.")
    api = table[name]
    compiled = rtmidi.get_compiled_api()
    if api not in compiled:
        have = ", ".join(rtmidi.get_api_name(a) for a in compiled) or "none"
        raise LiveEngineError(f"MIDI API {name!r} is not available in this python-rtmidi build; it has: {have}.",
                              "Pick one of those with --midi-api or [midi] api.")
    return api


def default_api() -> str:
    """ALSA on Linux when its sequencer exists (else JACK), CoreMIDI on macOS, Windows MM on Windows."""
    if sys.platform == "darwin":
        return "coremidi"
    if sys.platform.startswith("win"):
        return "winmm"
    if os.path.exists("/dev/snd/seq"):
        return "alsa"
    return "jack"


def resolve_api(name: str | None) -> str:
    return default_api() if name in (None, "", "auto") else name


def open_input(api: str, name: str = CLIENT):
    """A MidiIn with no callback, a bounded queue, SysEx and active sensing ignored inside rtmidi (clock comes
    through: the groove's tempo source may follow it)."""
    rtmidi = _rtmidi()
    midi_in = _new_client(api, lambda constant: rtmidi.MidiIn(constant, name=name, queue_size_limit=QUEUE_LIMIT))
    midi_in.ignore_types(sysex=True, timing=False, active_sense=True)
    return midi_in


def open_output(api: str, name: str = CLIENT):
    rtmidi = _rtmidi()
    return _new_client(api, lambda constant: rtmidi.MidiOut(constant, name=name))


def _new_client(api: str, make):
    """make(api constant): a new rtmidi client, with what C libraries print meanwhile held back.

    JACK and ALSA report a failed connection on file descriptor 2 from C ("Cannot connect to
    server socket", "JackShm...", "ALSA lib seq_hw.c ..."), which sys.stderr cannot catch, so
    fd 2 points at a temporary file while the client opens. On failure one sentence replaces
    that noise; on success whatever was printed is passed on, so no real warning is lost.
    """
    rtmidi = _rtmidi()
    constant = api_constant(api)
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            client = make(constant)
        except rtmidi.RtMidiError as exc:
            client, error = None, exc
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        if client is not None:
            held.seek(0)
            os.write(2, held.read())
            return client
    raise _no_midi_system(api, error)


def _no_midi_system(api: str, error: Exception) -> LiveEngineError:
    sequencer = os.path.exists("/dev/snd/seq")
    if api == "jack":
        server = os.environ.get("JACK_DEFAULT_SERVER", "default")
        if sequencer:  # the user picked JACK over a working ALSA sequencer
            return LiveEngineError(f"MIDI through JACK needs a running JACK server, and JACK server {server!r} is not running.",
                                   "Start JACK (QjackCtl, or `jackd -d alsa`), or use --midi-api alsa.")
        return LiveEngineError(f"no MIDI system is running: JACK server {server!r} is not running and this machine has no ALSA sequencer.",
                               "Start JACK (QjackCtl, or `jackd -d dummy` without a sound card) or load the ALSA sequencer "
                               "(`sudo modprobe snd-seq`), then run this again; `liveengine play --no-midi` plays without MIDI.")
    if api == "alsa":
        return LiveEngineError("no MIDI system is running: the ALSA sequencer (/dev/snd/seq) cannot be opened.",
                               "Load it (`sudo modprobe snd-seq`), or start JACK and use --midi-api jack.")
    return LiveEngineError(f"cannot open MIDI through {api}: {error}.", "Check that MIDI works on this system, or run with --no-midi.")


def own_port(name: str) -> bool:
    """Ports liveengine itself made (its virtual input, its LED outputs): never opened as controllers."""
    return CLIENT in name or name.startswith(VIRTUAL_PORT + ":") or name == VIRTUAL_PORT


class PortPool:
    """Every rtmidi object liveengine will use, made up front; ports are then opened and closed on them.

    Why up front: python-rtmidi holds the interpreter lock while rtmidi opens a client,
    and opening a JACK client waits for the server's next cycle boundary. If any JACK
    client in this process runs Python in its process callback (the engine's audio
    stream, a test client), that cycle cannot end without the lock: the open times out
    and fails ("JACK server not running?"). Opening and closing *ports* on existing
    clients does not wait for a cycle, so hot-plug reuses these objects. Make the pool
    before the audio stream starts.

    Why few: each rtmidi object is a JACK client, and when a process dies without closing
    them (SIGKILL, a crash) the server stalls about 5 s per dead client before it answers
    anyone again. So `slots(input_names)` decides how many inputs and outputs to make once
    the ports present are known (the virtual input lists them).
    """

    def __init__(self, api: str, slots) -> None:
        self.api = api
        self.virtual = open_input(api, CLIENT)
        self._lister_in = self.virtual
        inputs, outputs = slots([p for p in self.virtual.get_ports() if not own_port(p)])
        self._free_in = [open_input(api, CLIENT) for _ in range(inputs)]
        self._free_out = [open_output(api, CLIENT) for _ in range(outputs)]
        self._lister_out = self._free_out[0] if self._free_out else None
        # Each input's port gets a name of its own, so `unlatch` can find it among JACK's ports.
        self._port_names = {id(port): f"in-{i + 1}" for i, port in enumerate(self._free_in)}
        self._unlatcher = open_output(api, CLIENT) if api == "jack" and inputs else None
        self._unlatch_target: tuple[int, str] | None = None  # the input the unlatcher is connected to
        self._all = [self.virtual, *self._free_in, *self._free_out] + ([self._unlatcher] if self._unlatcher else [])

    def inputs(self) -> list[str]:
        """Input port names (sources), without liveengine's own."""
        return [p for p in self._lister_in.get_ports() if not own_port(p)]

    def outputs(self) -> list[str]:
        if self._lister_out is None:
            return []
        return [p for p in self._lister_out.get_ports() if not own_port(p)]

    def open_input_port(self, name: str):
        """An input connected to the port called `name`, or None when the pool is used up."""
        if not self._free_in:
            return None
        midi_in = self._free_in.pop()
        try:
            midi_in.open_port(self._lister_in.get_ports().index(name), self._port_names.get(id(midi_in), "in"))
        except Exception:
            self._free_in.append(midi_in)
            raise
        return midi_in

    def open_output_port(self, name: str):
        if not self._free_out:
            return None
        midi_out = self._free_out.pop()
        try:
            midi_out.open_port(self._lister_out.get_ports().index(name), "leds")
        except Exception:
            self._free_out.append(midi_out)
            raise
        return midi_out

    def unlatch(self, midi_in, name: str):
        """End a SysEx latch on an open input (see input.LATCHING_APIS); returns the input to read from now.

        On JACK, rtmidi's latch ends at an event whose last byte is F7: a lone F7 is sent into the
        input from a JACK output of our own (making a new rtmidi JACK client here could wait on a
        JACK cycle, see above). Elsewhere (CoreMIDI) the latch lives in the rtmidi object, so a new
        one replaces it on the same port."""
        if self.api == "jack":
            if self._unlatcher is None:
                return midi_in
            target = (id(midi_in), name)
            if self._unlatch_target != target:  # stays connected after: nothing sent can be cut off by a close
                suffix = ":" + self._port_names.get(id(midi_in), "in")
                ports = [i for i, p in enumerate(self._unlatcher.get_ports()) if p.startswith(CLIENT) and p.endswith(suffix)]
                if len(ports) != 1:
                    return midi_in
                self._unlatcher.close_port()
                self._unlatcher.open_port(ports[0], "unlatch")
                self._unlatch_target = target
            self._unlatcher.send_message([0xF7])
            return midi_in
        fresh = open_input(self.api, CLIENT)
        try:
            fresh.open_port(self._lister_in.get_ports().index(name), "in")
        except Exception:
            fresh.delete()
            raise
        self.release(midi_in)
        self._free_in.remove(midi_in)
        self._all = [p for p in self._all if p is not midi_in] + [fresh]
        midi_in.delete()
        return fresh

    def release(self, port) -> None:
        """Close the port and keep the object for the next device."""
        if self._unlatch_target is not None and self._unlatch_target[0] == id(port):
            self._unlatch_target = None  # its port closes: the connection goes with it
        try:
            port.close_port()
        except Exception:  # the device vanished: the port is gone already
            pass
        if hasattr(port, "get_message"):
            self._drain(port)
            self._free_in.append(port)
        else:
            self._free_out.append(port)

    @staticmethod
    def _drain(port) -> None:
        for _ in range(QUEUE_LIMIT):
            if port.get_message() is None:
                return

    def close(self) -> None:
        for port in self._all:
            try:
                port.close_port()
                port.delete()
            except Exception:  # closing a port whose server went away must not stop shutdown
                pass


def select_inputs(names: list[str], wanted: tuple[str, ...], is_skipped) -> list[str]:
    """Ports to open: those containing any `wanted` text (case-insensitive), else every port no profile skips."""
    if wanted:
        return [n for n in names if any(w.lower() in n.lower() for w in wanted)]
    return [n for n in names if not is_skipped(n)]


def pair_output(input_name: str, outputs: list[str], profile) -> str | None:
    """The output port of the same device (for LEDs): one the profile matches, sharing the longest prefix."""
    candidates = [o for o in outputs if profile.matches(o)]
    if not candidates:
        return None

    def shared(o: str) -> int:
        n = 0
        for a, b in zip(o, input_name):
            if a != b:
                break
            n += 1
        return n

    return max(candidates, key=shared)
