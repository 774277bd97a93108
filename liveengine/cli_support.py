"""What every part of the command line shares: argument types, printing, loading the patch argument.

liveengine/cli.py and the sub-CLIs it registers (export/cli.py, control/midi/cli.py) import
these from here, so no sub-CLI has to import liveengine.cli back.
"""

from __future__ import annotations

import argparse
import sys
import time


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


def seconds_type(text: str) -> float:
    value = _parsed(text, float)
    if value is None or not 0 < value <= 24 * 3600:  # nan fails the comparison too
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration; allowed: a number of seconds above 0")
    return value


def state_name_type(text: str) -> str:
    import re

    from liveengine.commands import NAME_PATTERN

    if not re.fullmatch(NAME_PATTERN, text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a state name; use letters, digits, - and _ (names only, never paths)")
    return text


def say(text: str) -> None:
    print(text, flush=True)


def load_patch_arg(patch_arg: str | None):
    """The patch a command's PATCH argument names (a file, a shipped patch name, or None for the default)."""
    from liveengine.patch import load_patch, resolve_patch

    return load_patch(resolve_patch(patch_arg))


def patch_device(patch, options, device: str | None = None):
    """The DeviceSpec the audio server process opens for a patch (the control process never opens the device):
    its [audio] backend and device, or `device` (--device) instead."""
    from liveengine.audio.spec import DeviceSpec

    if patch.audio["backend"] == "jack":
        return DeviceSpec.jack(options.samplerate, options.blocksize, options.channels, patch.audio["jack_ports"])
    return DeviceSpec.portaudio(device if device is not None else patch.audio["device"], options.samplerate, options.blocksize,
                                options.channels, patch.audio["jack_ports"], fallback=patch.audio["fallback_device"])


class Progress:
    """One line of progress on a terminal; occasional lines otherwise."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.tty = sys.stdout.isatty()
        self.last = -1.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - self.last < (0.1 if self.tty else 2.0):
            return
        self.last = now
        text = f"{self.label}: {done}/{total}"
        if self.tty:
            print("\r" + text, end="\n" if done >= total else "", flush=True)
        else:
            print(text, flush=True)
