"""The MIDI parts of the command line: `play` options, `liveengine midi`, `liveengine learn`.

Registered from liveengine/cli.py with `add_play_options(play_parser)` and
`add_commands(subparsers, debug_parent)`; `start_for_play` opens MIDI for a running engine.
"""

from __future__ import annotations

import argparse
import dataclasses

from liveengine.cli_support import load_patch_arg, say, seconds_type
from liveengine.errors import LiveEngineError


def add_play_options(play: argparse.ArgumentParser) -> None:
    from liveengine.control.midi.ports import API_NAMES

    play.add_argument("--midi-api", choices=API_NAMES, help="rtmidi API (default: [midi] api, else ALSA/JACK on Linux, CoreMIDI, Windows MM)")
    play.add_argument("--midi-in", action="append", default=[], metavar="NAME",
                      help="open MIDI inputs whose name contains NAME (repeatable; default: every controller)")
    play.add_argument("--no-midi", action="store_true", help="do not open MIDI ports")


def add_commands(commands, debug: argparse.ArgumentParser) -> None:
    from liveengine.control.midi.ports import API_NAMES

    midi = commands.add_parser("midi", parents=[debug], help="list MIDI ports and the controller profile each would get")
    midi.add_argument("patch", nargs="?", help="a patch whose [midi] section applies (default: the default patch)")
    midi.add_argument("--midi-api", choices=API_NAMES, help="rtmidi API (default: [midi] api, else ALSA/JACK on Linux, CoreMIDI, Windows MM)")
    midi.set_defaults(run=cmd_midi)

    learn = commands.add_parser("learn", parents=[debug], help="bind MIDI controls to parameters and write them into the patch")
    learn.add_argument("patch", nargs="?", help="the patch to write (a shipped patch is copied to your user folder first)")
    learn.add_argument("--param", action="append", required=True, metavar="NAME", help="parameter to bind (repeatable, in order)")
    learn.add_argument("--midi-api", choices=API_NAMES, help="rtmidi API (default: [midi] api, else ALSA/JACK on Linux, CoreMIDI, Windows MM)")
    learn.add_argument("--midi-in", action="append", default=[], metavar="NAME")
    learn.add_argument("--timeout", type=seconds_type, default=30.0, help="seconds to wait for each control (default 30)")
    learn.set_defaults(run=cmd_learn)


def server_reads_midi(patch, args, device_spec) -> bool:
    """True when the audio server should read MIDI itself: it is a native JACK client and MIDI is on JACK
    (notes then keep their exact frames; see control/midi/server_ports.py)."""
    if getattr(args, "no_midi", False) or device_spec.kind != "jack":
        return False
    from liveengine.control.midi.mapping import MidiSettings
    from liveengine.control.midi.ports import resolve_api

    return resolve_api(args.midi_api or MidiSettings.from_patch(patch).api) == "jack"


def open_groove_midi_out(engine, patch, args, device_spec, say=say):
    """Where the groove's notes go out when `[groove] output` is midi or both: the audio server's own JACK MIDI
    output on the native JACK backend (each note at its frame), else rtmidi's virtual port 'liveengine out'
    (opened here, before the stream: see ports.PortPool). Returns the device spec to start."""
    if patch.groove.get("output", "internal") == "internal" or not patch.groove.get("model"):
        return device_spec
    if device_spec.kind == "jack":
        say("groove MIDI out: JACK port liveengine:midi_out_1")
        return dataclasses.replace(device_spec, midi_out=True)
    from liveengine.control.midi.mapping import MidiSettings

    try:
        engine.open_midi_out(getattr(args, "midi_api", None) or MidiSettings.from_patch(patch).api)
        say("groove MIDI out: virtual port 'liveengine out'")
    except LiveEngineError as exc:
        say(f"groove MIDI out: none ({exc.message}); the groove's notes are counted as dropped")
    return device_spec


def start_for_play(engine, patch, args, say=say, server: bool = False):
    """Open MIDI for `liveengine play` before the audio stream starts (see ports.PortPool); None with --no-midi.

    `server`: the audio server reads the MIDI inputs (server_reads_midi). A MIDI system that cannot
    open is reported, not fatal: the engine plays on without it."""
    if getattr(args, "no_midi", False):
        return None
    from liveengine.control.midi.input import MidiInput
    from liveengine.control.midi.mapping import MidiSettings

    settings = MidiSettings.from_patch(patch)
    try:
        midi = MidiInput(engine, settings, api=args.midi_api, inputs=tuple(args.midi_in), report=lambda m: say(f"liveengine: {m}"),
                         server=server)
        midi.start()
    except LiveEngineError as exc:
        say(f"liveengine: MIDI is off: {exc}")
        return None
    for line in midi.describe() + getattr(midi.profiles, "notes", list)():  # notes: user profiles replacing shipped ones
        say(f"MIDI: {line}")
    return midi


def cmd_midi(args) -> int:
    from liveengine.control.midi import ports
    from liveengine.control.midi.mapping import MidiSettings
    from liveengine.control.midi.profiles import SHIPPED_DIR, choose_profile, load_profiles, skipped
    from liveengine.resources import user_profiles_dir

    patch = load_patch_arg(args.patch)
    settings = MidiSettings.from_patch(patch)
    api = ports.resolve_api(args.midi_api or settings.api)
    profiles = load_profiles()
    say(f"MIDI API {api}; profiles from {SHIPPED_DIR.name}/ (shipped) and {user_profiles_dir()} (yours)")
    for line in profiles.notes():
        say(line)
    pool = ports.PortPool(api, lambda names: (0, 1))  # one output, to list the outputs
    try:
        inputs, outputs = pool.inputs(), pool.outputs()
    finally:
        pool.close()
    chosen = ports.select_inputs(inputs, settings.inputs, lambda n: skipped(n, profiles))
    if not inputs:
        say("no MIDI inputs found. `liveengine play` opens the virtual input 'liveengine' for a DAW.")
    for name in inputs:
        profile = choose_profile(name, profiles, settings.profile)
        mark = "*" if name in chosen else " "
        note = "" if name in chosen else "  (not opened: " + ("another port of this device" if skipped(name, profiles) else "not in [midi] inputs") + ")"
        leds = ports.pair_output(name, outputs, profile) if profile.leds.get("method", "none") != "none" else None
        checked = "" if profile.checked_on_hardware else ", not yet checked on hardware"
        say(f"{mark} {name}  ->  {profile.name} ({profile.title}{checked})" + (f", LEDs to {leds}" if leds else "") + note)
    say("profiles: " + ", ".join(sorted(profiles)))
    return 0


def cmd_learn(args) -> int:
    from liveengine import commands as table
    from liveengine.control.midi import ports
    from liveengine.control.midi.learn import wait_for_control, write_bindings
    from liveengine.control.midi.mapping import MidiSettings
    from liveengine.control.midi.parse import MessageSplitter
    from liveengine.control.midi.profiles import load_profiles, skipped
    from liveengine.patch import load_patch, resolve_patch

    for name in args.param:
        if name not in table.PARAMS:
            raise LiveEngineError(f"--param {name!r} is not a parameter; allowed: {', '.join(table.PARAMS)}.")
    path = resolve_patch(args.patch)
    settings = MidiSettings.from_patch(load_patch(path))
    api = ports.resolve_api(args.midi_api or settings.api)
    profiles = load_profiles()
    chosen: list[str] = []

    def slots(names):
        chosen.extend(ports.select_inputs(names, tuple(args.midi_in) or settings.inputs, lambda n: skipped(n, profiles))[:4])
        return len(chosen), 0

    pool = ports.PortPool(api, slots)
    opened = []
    try:
        for name in chosen:
            opened.append((pool.open_input_port(name), MessageSplitter()))
        try:
            pool.virtual.open_virtual_port(ports.VIRTUAL_PORT)
            opened.append((pool.virtual, MessageSplitter()))
            virtual = f" and the virtual input '{ports.VIRTUAL_PORT}'"
        except Exception:  # Windows MM has no virtual ports
            virtual = ""
        if not opened:
            raise LiveEngineError("no MIDI input to learn from.", "Connect a controller (see `liveengine midi`), or name one with --midi-in.")
        say(f"listening on {', '.join(chosen) or 'no controllers'}{virtual}")
        pending: list = []

        def poll():
            if pending:
                return pending.pop(0)
            for midi_in, splitter in opened:
                item = midi_in.get_message()
                if item is not None:
                    pending.extend(splitter.split(item[0]))
            return pending.pop(0) if pending else None

        bindings: dict[int, str] = {}
        for name in args.param:
            say(f"move the control for {name} ...")
            found = wait_for_control(poll, args.timeout, exclude=set(bindings))
            if found is None:
                raise LiveEngineError(f"no control moved within {args.timeout:g} s for {name}.", "Move a knob or fader further, or raise --timeout.")
            bindings[found[1]] = name
            say(f"CC {found[1]} (channel {found[0] + 1}) -> {name}")
            pending.clear()
    finally:
        pool.close()
    written = write_bindings(path, bindings)
    if written != path:
        say(f"{path} is a patch shipped with liveengine, so the bindings went into your copy: {written}")
    else:
        say(f"wrote {len(bindings)} binding(s) into {written} (the old file is {written.name}.bak)")
    return 0
