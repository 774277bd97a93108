"""What every part of the command line shares: argument types, printing, loading the patch argument.

liveengine/cli.py and the sub-CLIs it registers (export/cli.py, control/midi/cli.py) import
these from here, so no sub-CLI has to import liveengine.cli back.
"""

from __future__ import annotations

import argparse
import atexit
import sys
import time

from liveengine.errors import did_you_mean


class ArgumentParser(argparse.ArgumentParser):
    """argparse, plus `Did you mean 'render'?` after an invalid choice (a command, --midi-api, ...).

    Python 3.14 has this as suggest_on_error; until then _check_value, where argparse refuses a choice, adds it.
    """

    def _check_value(self, action, value):
        try:
            super()._check_value(action, value)
        except argparse.ArgumentError as exc:
            hint = did_you_mean(value, action.choices) if isinstance(value, str) else ""
            if not hint:
                raise
            raise argparse.ArgumentError(action, f"{exc.message}. {hint}") from None


def _parsed(text: str, parse):
    """parse(text), or None where it is not a number at all (the caller names what is allowed)."""
    try:
        return parse(text)
    except ValueError:
        return None


def samplerate_type(text: str) -> int:
    from liveengine.options import SAMPLE_RATES

    value = _parsed(text, int)
    if value not in SAMPLE_RATES:
        raise argparse.ArgumentTypeError(f"{text!r} is not a supported sample rate; allowed: {', '.join(map(str, SAMPLE_RATES))}")
    return value


def blocksize_type(text: str) -> int:
    value = _parsed(text, int)
    if value is None or not 32 <= value <= 1024:
        raise argparse.ArgumentTypeError(f"{text!r} is not a block size; allowed: 32 to 1024 frames")
    return value


def port_type(text: str) -> int:
    value = _parsed(text, int)
    if value is None or not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a UDP port; allowed: 1 to 65535")
    return value


MAX_DURATION = 24 * 3600  # s: a typo (1e9) is refused at once rather than running or rendering for years


def seconds_type(text: str) -> float:
    value = _parsed(text, float)
    if value is None or not 0 < value <= MAX_DURATION:  # nan fails the comparison too
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration; allowed: a number of seconds above 0 and at most {MAX_DURATION} "
                                         "(24 hours)")
    return value


def tail_seconds_type(text: str) -> float:
    """seconds_type, with 0 allowed: render --tail 0 ends the file at the last command."""
    value = _parsed(text, float)
    if value is None or not 0 <= value <= MAX_DURATION:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration; allowed: a number of seconds from 0 to {MAX_DURATION} (24 hours)")
    return value + 0.0  # -0 as 0


def state_name_type(text: str) -> str:
    """A saved state's name for --resume: NAME, or NAME.prev for the state kept before NAME's last save."""
    import re

    from liveengine.commands import NAME_PATTERN

    if not re.fullmatch(rf"{NAME_PATTERN}(\.prev)?", text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a state name; use letters, digits, - and _, and .prev at the end for the "
                                         "state kept before that one's last save (names only, never paths)")
    return text


def say(text: str) -> None:
    print(text, flush=True)


def told(stop: KeyboardInterrupt, said: str) -> KeyboardInterrupt:
    """`stop` (a Ctrl-C), once `said` (what the command kept) is on stderr; marked told: cli.main adds nothing."""
    print(f"liveengine: {said}", file=sys.stderr, flush=True)
    stop.told = True
    return stop


def load_patch_arg(patch_arg: str | None):
    """The patch a command's PATCH argument names (a file, a shipped patch name, or None for the default)."""
    from liveengine.patch import load_patch, resolve_patch

    return load_patch(resolve_patch(patch_arg))


def patch_with_model(patch, model: str):
    """`patch` playing another model (--model): a model folder's path from the working folder, or a shipped model's name.

    Its choke groups are dropped: they name pads of its own model (the default patch's open and
    closed hats), which are other sounds on another model. LiveEngineError where no such model is.
    """
    import dataclasses
    from pathlib import Path

    from liveengine.decoders.registry import find_model

    folder = find_model(model, Path.cwd() / "command-line")
    return dataclasses.replace(patch, model=str(folder.resolve()) if folder is not None else model, choke={})


def wants_native_jack(patch, device: str | None = None) -> bool:
    """`[audio] backend`: "jack", or "auto" while a JACK server runs and no PortAudio device is named (patch
    or --device). The native client is what JACK MIDI in the audio server, its MIDI out and a clean JACK
    restart need; PortAudio's JACK host API gives none of them."""
    backend = patch.audio["backend"]
    if backend != "auto":
        return backend == "jack"
    if (device if device is not None else patch.audio["device"]) not in ("", None):
        return False
    from liveengine.audio.jack_backend import jack_server_running

    return jack_server_running()


def patch_device(patch, options, device: str | None = None):
    """The DeviceSpec the audio server process opens for a patch (the control process never opens the device):
    its [audio] backend and device, or `device` (--device) instead."""
    from liveengine.audio.spec import DeviceSpec

    # A patch with a stream gets the server's audio input (timbre transfer, /stream/input audio): the native JACK
    # client's port in_1, or the PortAudio device's first input channel.
    stream = patch.stream if patch.stream.get("model") else None
    if wants_native_jack(patch, device):
        return DeviceSpec.jack(options.samplerate, options.blocksize, options.channels, patch.audio["jack_ports"],
                               audio_in=stream is not None, audio_in_port=stream["audio_port"] if stream else "")
    return DeviceSpec.portaudio(device if device is not None else patch.audio["device"], options.samplerate, options.blocksize,
                                options.channels, patch.audio["jack_ports"], fallback=patch.audio["fallback_device"], audio_in=stream is not None)


class Progress:
    """Progress of one job on stderr, told by calling it with (done, total); a `with` block closes it early on errors.

    On a terminal, a rich progress bar. Elsewhere (logs, pipes, tests) a line every few seconds
    and one at the end, and only where `log` is set (long jobs): short ones stay quiet there.
    A report repeating the last one (a final call after a wait) prints nothing. The bar closes
    itself when the job is done, and at exit (an error or Ctrl-C midway) at the latest.
    """

    def __init__(self, label: str, unit: str = "", log: bool = True) -> None:
        self.label = label
        self.unit = unit
        self.log = log
        self.bar = None
        self.task = None
        self.last: tuple | None = None
        self.next_update = 0.0  # throttle: a terminal redraws 10 times a second, a log gets a line every 5 s

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __call__(self, done: float, total: float) -> None:
        now = time.monotonic()
        if (done, total) == self.last or (done < total and now < self.next_update):
            return
        self.last = (done, total)
        if sys.stderr.isatty():
            self.next_update = now + 0.1
            if self.bar is None:
                from rich.console import Console
                from rich.progress import BarColumn, Progress as Bar, TextColumn, TimeRemainingColumn

                self.bar = Bar(TextColumn(self.label), BarColumn(), TextColumn("{task.completed:.0f}/{task.total:.0f}" + self.unit),
                               TimeRemainingColumn(), console=Console(stderr=True), auto_refresh=False)
                self.task = self.bar.add_task(self.label, total=total)
                self.bar.start()
                atexit.register(self.close)  # the terminal's cursor comes back whatever stops the job
            self.bar.update(self.task, completed=done, total=total, refresh=True)
            if done >= total:
                self.close()
        elif self.log:
            self.next_update = now + 5.0
            print(f"{self.label}: {done:.0f}/{total:.0f}{self.unit}", file=sys.stderr, flush=True)

    def close(self) -> None:
        """Stop the bar (its last state stays on screen) and give the terminal back."""
        if self.bar is not None:
            self.bar.stop()
            self.bar = None
