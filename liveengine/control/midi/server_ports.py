"""MIDI read by the audio server itself, on JACK: which controller feeds which of its MIDI inputs.

When the audio server owns JACK MIDI inputs (the native JACK backend, `DeviceSpec.jack(midi_in=True)`),
notes are parsed in its process callback with their exact frames (rt/midi_bytes.py) and reach the
control process through the event FIFO, each with the index of the input it came in on. The server
has one input per controller (`liveengine:midi_in_1` ...), so each keeps its own profile, running
status and LEDs. What is left here is the patch bay: a JACK client of the control process with no
process callback (no Python runs on JACK's thread, and no second callback wants the interpreter
lock) that gives each wanted controller an input and connects it, on every scan: a controller that
appears later (hot-plug) is connected, one that vanishes frees its input, and after a JACK restart
the server's re-made inputs are connected again.

A controller with LEDs gets the server's LED output of the same index (`liveengine:leds_N`, written by
the server's callback from the MIDI-out FIFO: rt/midi_out.py), connected to the controller's own input
port. A scan that has to connect it again (the audio server or the JACK server restarted, so the port
is new) says which, and the LED thread then redraws that controller's whole state.
"""

from __future__ import annotations

from liveengine.at_most import run_at_most
from liveengine.audio.spec import MIDI_PORTS


def server_port(index: int) -> str:
    return f"liveengine:midi_in_{index + 1}"


def led_port(index: int) -> str:
    return f"liveengine:leds_{index + 1}"


class ServerMidiPatchbay:
    def __init__(self, servername: str | None = None) -> None:
        self.servername = servername
        self._client = None
        self._gone = None  # set by JACK when the client's server shuts down
        self.assigned: dict[str, int] = {}  # controller's JACK output port -> server input index
        self.leds: dict[int, str] = {}  # server input index -> the controller's JACK input port its LED output feeds

    def _jack(self):
        if self._gone is not None and self._gone.is_set():
            # The JACK server this client knew shut down (a restart): a new client for the new one. The
            # old one is dropped, never closed: jack_client_close on a client of a server that is gone
            # crashed the process (SIGSEGV in libjack); JACK forgets it when this process exits.
            _forget(self._client)
            self._client, self._gone = None, None
        if self._client is None:
            import threading

            import jack

            client = jack.Client("liveengine-midi-patchbay", no_start_server=True, servername=self.servername)
            gone = threading.Event()
            # Called once, on a libjack thread, when the server goes away: no process callback, so no
            # Python runs on JACK's cycle (see the module's docstring).
            client.set_shutdown_callback(lambda status, reason: gone.set())
            self._client, self._gone = client, gone
        return self._client

    def led_targets(self) -> list[str]:
        """The JACK MIDI input ports a controller's LEDs could be sent to (not liveengine's own)."""
        return [p.name for p in self._jack().get_ports(is_midi=True, is_input=True) if not p.name.startswith(("liveengine:", "liveengine-"))]

    def link_leds(self, index: int, target: str) -> None:
        """Feed the controller's input port `target` from the server's LED output `index`, now and after every restart."""
        self.leds[index] = target
        self._jack().connect(led_port(index), target)

    def sync(self, wanted, is_skipped) -> tuple[list[tuple[str, int]], list[str], list[str], list[int]]:
        """Give new wanted sources an input and connect every assigned one and its LED output;
        (added, removed, no room, the indices whose LED output had to be connected again).

        Raises when JACK refuses a call (the server is gone; a controller's client registered its ports but is not
        active yet, so JACK will not connect them): the client is then dropped and made again on the next call, and
        nothing this call assigned or freed is kept, so the next call reports it again (a controller assigned here
        but never reported would never get its device and LEDs)."""
        from liveengine.control.midi.ports import select_inputs

        assigned, leds = dict(self.assigned), dict(self.leds)
        try:
            client = self._jack()
            if not client.get_ports(server_port(0)):
                return [], [], [], []  # the audio server (re)starts: its inputs are not there yet
            sources = [p.name for p in client.get_ports(is_midi=True, is_output=True)
                       if not p.name.startswith(("liveengine:", "liveengine-"))]
            removed = [name for name in self.assigned if name not in sources]
            for name in removed:
                self.leds.pop(self.assigned.pop(name), None)
            added, full = [], []
            for name in select_inputs(sources, wanted, is_skipped):
                if name in self.assigned:
                    continue
                free = [i for i in range(MIDI_PORTS) if i not in self.assigned.values()]
                if not free:
                    full.append(name)
                    continue
                self.assigned[name] = free[0]
                added.append((name, free[0]))
            for name, index in self.assigned.items():
                target = server_port(index)
                if target not in {p.name for p in client.get_all_connections(name)}:
                    client.connect(name, target)
            relinked = []
            if self.leds:
                inputs = {p.name for p in client.get_ports(is_midi=True, is_input=True)}
                for index, target in self.leds.items():
                    if target in inputs and target not in {p.name for p in client.get_all_connections(led_port(index))}:
                        client.connect(led_port(index), target)
                        relinked.append(index)
            return added, removed, full, relinked
        except Exception:
            self.assigned, self.leds = assigned, leds
            self.close()
            raise

    def close(self) -> None:
        """Close the client, but never hang on it: jack_client_close was seen to block for minutes at
        the end of a test run (with rtmidi's own libjack in the same process); a client left behind
        goes with the process. One whose server went away is left behind (see _jack)."""
        client, gone, self._client, self._gone = self._client, self._gone, None, None
        if client is None:
            return
        if gone is not None and gone.is_set():
            _forget(client)
        else:
            run_at_most(client.close, 1.0, "liveengine-patchbay-close")


def _forget(client) -> None:
    """Let go of a client whose JACK server is gone without closing it: JACK-Client closes a client when
    it is garbage-collected, and jack_client_close on one of a server that restarted crashed the process
    (SIGSEGV in libjack). Its handle is cleared so that never happens; JACK forgets it when we exit."""
    import jack

    client._ptr = jack._ffi.NULL  # noqa: SLF001 - JACK-Client has no public way to abandon a client
