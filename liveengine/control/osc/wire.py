"""OSC bytes to values, strictly: every type tag is read or named, never skipped.

python-osc's parser skips type tags it does not know (`/capture ,ZQX` reads as a bare
`/capture`, `/pad ,Zii 7 7` as `/pad 7 7`) and logs a root-logger warning for each, which
reaches the terminal. Here the first tag the engine does not read stops the message and is
named (`Message.bad_tag`), so the server can refuse it; nothing is logged. python-osc's
primitives still read the values.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pythonosc.parsing import osc_types

BUNDLE_PREFIX = b"#bundle\x00"

READERS = {"i": osc_types.get_int, "h": osc_types.get_int64, "f": osc_types.get_float, "d": osc_types.get_double,
           "s": osc_types.get_string, "S": osc_types.get_string}


class MalformedPacket(ValueError):
    """Bytes that are not an OSC message or bundle."""


@dataclass
class Message:
    address: str
    tags: str = ""  # the type tags read, one per value in `args`
    args: list = field(default_factory=list)
    bad_tag: str = ""  # the first type tag not in READERS; the values after it are unknown


@dataclass
class Bundle:
    timetag: float  # seconds since the Unix epoch; 0 = immediately
    contents: list  # Message | Bundle


def parse(data: bytes) -> Message | Bundle:
    """One datagram; raises MalformedPacket when its bytes are not OSC."""
    try:
        if data.startswith(BUNDLE_PREFIX):
            return _bundle(data)
        if data.startswith(b"/"):
            return _message(data)
    except MalformedPacket:
        raise
    except (osc_types.ParseError, ValueError, IndexError) as exc:  # ValueError includes bad UTF-8
        raise MalformedPacket(type(exc).__name__) from None
    raise MalformedPacket("neither a message nor a bundle")


def _message(data: bytes) -> Message:
    address, index = osc_types.get_string(data, 0)
    message = Message(address)
    if index >= len(data):
        return message  # no type tag string: no arguments
    tags, index = osc_types.get_string(data, index)
    if not tags.startswith(","):
        raise ValueError("type tags without a leading comma")
    for tag in tags[1:]:
        reader = READERS.get(tag)
        if reader is None:
            message.bad_tag = tag
            break
        value, index = reader(data, index)
        message.tags += tag
        message.args.append(value)
    return message


MAX_BUNDLE_DEPTH = 32  # bundles in bundles: real senders nest one or two; a datagram of 1,000 levels is an attack


def _bundle(data: bytes, depth: int = 1) -> Bundle:
    if depth > MAX_BUNDLE_DEPTH:  # recursion deeper than Python's limit would end the receiving thread
        raise MalformedPacket(f"bundles nested deeper than {MAX_BUNDLE_DEPTH}")
    timetag, index = osc_types.get_date(data, len(BUNDLE_PREFIX))
    contents = []
    while index < len(data):
        size, index = osc_types.get_int(data, index)
        if not 0 < size <= len(data) - index:
            raise ValueError("bundle element size beyond the datagram")
        element = data[index: index + size]
        index += size
        if element.startswith(BUNDLE_PREFIX):
            contents.append(_bundle(element, depth + 1))
        elif element.startswith(b"/"):
            contents.append(_message(element))
        else:
            raise ValueError("bundle element is neither a message nor a bundle")
    return Bundle(timetag, contents)
