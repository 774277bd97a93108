"""MIDI control: pad controllers and a virtual port for DAWs.

Follow the names: `ports` opens rtmidi ports (polled, never a callback),
`input` is the control thread that drains them, `parse` splits raw bytes into
mido messages, `mapping` turns messages into engine Commands, `profiles` holds
each controller's note and LED layout (data files in `profiles/`), `feedback`
drives the pad LEDs, `learn` writes bindings into a patch, `cli` is the
`liveengine midi` / `learn` commands and the `play` options.
"""
