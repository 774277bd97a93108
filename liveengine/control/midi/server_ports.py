"""MIDI read by the audio server itself, on JACK: which controllers feed its `liveengine:midi_in` port.

When the audio server owns a JACK MIDI input (the native JACK backend, `DeviceSpec.jack(midi_in=True)`),
notes are parsed in its process callback with their exact frames (rt/midi_bytes.py) and reach the
control process through the event FIFO. What is left here is the patch bay: a JACK client of the
control process, with no process callback (so no Python runs on JACK's thread, and no second
callback wants the interpreter lock), that connects the wanted controllers' MIDI outputs to the
server's input, on every scan. A controller that appears later (hot-plug) or a server port re-made
after a JACK restart is connected on the next scan.
"""

from __future__ import annotations

SERVER_PORT = "liveengine:midi_in"


class ServerMidiPatchbay:
    def __init__(self, servername: str | None = None) -> None:
        self.servername = servername
        self._client = None

    def _jack(self):
        if self._client is None:
            import jack

            self._client = jack.Client("liveengine-midi-patchbay", no_start_server=True, servername=self.servername)
        return self._client

    def connect(self, wanted, is_skipped) -> list[str]:
        """Connect every wanted MIDI source to the server's input; returns the names newly connected.

        Raises OSError-like exceptions when the JACK server is gone: the client is then dropped
        and made again on the next call (after a JACK restart)."""
        try:
            client = self._jack()
            if not client.get_ports(SERVER_PORT):
                return []  # the audio server (re)starts: its port is not there yet
            connected = {p.name for p in client.get_all_connections(SERVER_PORT)}
            sources = [p.name for p in client.get_ports(is_midi=True, is_output=True)
                       if not p.name.startswith(("liveengine:", "liveengine-"))]
            from liveengine.control.midi.ports import select_inputs

            new = [name for name in select_inputs(sources, wanted, is_skipped) if name not in connected]
            for name in new:
                client.connect(name, SERVER_PORT)
            return new
        except Exception:
            self.close()
            raise

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                client.close()
            except Exception:  # noqa: BLE001 - a client of a server that went away
                pass
