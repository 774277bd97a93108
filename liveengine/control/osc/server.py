"""The OSC server: our own receive loop over python-osc's parsing.

python-osc's servers are not fit for a stage: a bundle timetagged in the future
stalls everything behind it (its dispatcher sleeps until the time), a packet with
bad UTF-8 raises past its ParseError handler, and datagrams over 8,192 bytes are
dropped silently. Here one thread receives, parses, checks each message against
the command table and hands it to the engine at once; timetagged bundles become
engine frames (sample-accurate, no thread sleeps). Every rejection is counted and
answered with `/error address reason`.
"""

from __future__ import annotations

import ipaddress

import socket
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from pythonosc.osc_bundle import OscBundle
from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import OscMessageBuilder

from liveengine.commands import COMMANDS, make_command
from liveengine.control.rate import TokenBucket
from liveengine.errors import LiveEngineError
from liveengine.handlers import Caller, status_values

MAX_DATAGRAM = 65507  # the largest UDP payload; anything the network delivers is read whole
FEEDBACK_SECONDS = 1.0  # /status
FEEDBACK_TICK = 0.03  # playing pads and new descriptions: about one video frame late at most
LEVEL_SECONDS = 0.1

# What a subscriber receives (docs/osc.md is generated from this too).
FEEDBACK = {
    "/pad/description": "row col class probability loudness_db brightness red green blue: a pad's sound, sent as each pad renders (class '' without a classifier)",
    "/pad/playing": "row col 1|0: a pad started or stopped sounding",
    "/progress": "done total: pads rendered for the current setting",
    "/level": "peak: the output's peak level (linear), ten times a second",
    "/status": "the /status reply (voices ... memory_mb), once a second",
    "/report": "text: what the engine reports (patch loaded, render failed, device lost, ...)",
    "/error": "address reason: a rejected message",
}


@dataclass
class OscCounters:
    received: int = 0
    handled: int = 0
    malformed: int = 0
    unknown: int = 0
    bad_arguments: int = 0
    not_allowed: int = 0
    late_bundles: int = 0
    too_far_ahead: int = 0
    flood_dropped: int = 0
    engine_rejected: int = 0
    by_reason: dict = field(default_factory=lambda: defaultdict(int))


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def build_message(address: str, *args) -> bytes:
    builder = OscMessageBuilder(address=address)
    for arg in args:
        builder.add_arg(arg)
    return builder.build().dgram


def build_bundle(timetag: float, *messages: tuple) -> bytes:
    """A bundle of (address, *args) messages for Unix time `timetag` (0 = immediately)."""
    from pythonosc.osc_bundle_builder import OscBundleBuilder

    bundle = OscBundleBuilder(timetag)
    for address, *args in messages:
        builder = OscMessageBuilder(address=address)
        for arg in args:
            builder.add_arg(arg)
        bundle.add_content(builder.build())
    return bundle.build().dgram


class OscServer:
    """Serve the address table over UDP for one engine. `start()` spawns the receive and feedback threads."""

    def __init__(self, engine, host: str = "127.0.0.1", port: int = 9000, *, allow: tuple[str, ...] = (),
                 allow_writes_from_network: bool = False, horizon_seconds: float = 10.0, late_tolerance_seconds: float = 0.5,
                 max_messages_per_second: int = 20000, recordings_dir: Path | None = None) -> None:
        if not _is_loopback(host) and not allow:
            raise LiveEngineError(f"OSC host {host} is not loopback, and no client addresses are allowed.",
                                  "Name the clients that may connect (--osc-allow ADDRESS), or listen on 127.0.0.1.")
        self.engine = engine
        self.allow = tuple(allow)
        self.allow_writes_from_network = allow_writes_from_network
        self.horizon = horizon_seconds
        self.late_tolerance = late_tolerance_seconds
        self.max_rate = max_messages_per_second
        self.recordings_dir = recordings_dir or Path.cwd()
        self.counters = OscCounters()
        self.subscribers: set[tuple[str, int]] = set()
        self._described: dict[int, object] = {}  # pad -> the buffer whose description was sent last
        self._rate: dict[str, TokenBucket] = {}
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 21)
        try:
            self._sock.bind((host, port))
        except OSError as exc:
            self._sock.close()
            raise LiveEngineError(f"cannot listen for OSC on {host}:{port}: {exc.strerror}.", "Pick another port with --osc-port.") from None
        self.address = self._sock.getsockname()
        self._sock.settimeout(0.2)
        self._clock_offset = 0.0
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._receive_loop, name="liveengine-osc", daemon=True),
                         threading.Thread(target=self._feedback_loop, name="liveengine-osc-feedback", daemon=True)]

    # ---- lifecycle ----
    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            if thread.ident is not None:  # stop() before start() (play fell back to rendering the demo)
                thread.join(timeout=2.0)
        self._sock.close()

    # ---- receiving ----
    def _receive_loop(self) -> None:
        while not self._stop.is_set():
            try:
                data, sender = self._sock.recvfrom(MAX_DATAGRAM + 1)
            except socket.timeout:
                continue
            except OSError:
                if self._stop.is_set():
                    return
                continue
            self.handle_datagram(data, sender)

    def handle_datagram(self, data: bytes, sender: tuple[str, int]) -> None:
        """Parse and act on one datagram; never raises."""
        host = sender[0]
        if self.allow and not _is_loopback(host) and host not in self.allow:
            self._reject(sender, "", "client not allowed", "not_allowed", reply=False)
            return
        if not self._within_rate(host):
            self.counters.flood_dropped += 1
            return
        self.counters.received += 1
        try:
            if OscBundle.dgram_is_bundle(data):
                self._clock_offset = self._wall_minus_clock()
                self._handle_bundle(OscBundle(data), sender)
            else:
                self._handle_message(OscMessage(data), sender)
        except Exception as exc:  # python-osc raises several types (incl. UnicodeDecodeError) on bad bytes
            self._reject(sender, "", f"malformed OSC packet ({type(exc).__name__})", "malformed")

    def _within_rate(self, host: str) -> bool:
        """A token bucket per client: floods are dropped and counted, never queued."""
        now = time.monotonic()
        bucket = self._rate.get(host)
        if bucket is None:
            bucket = self._rate[host] = TokenBucket(self.max_rate, now)
        return bucket.take(now)

    def _wall_minus_clock(self) -> float:
        """Unix time minus the backend clock, read once per datagram so one bundle maps to one frame."""
        return time.time() - self.engine.clock.now()

    def _handle_bundle(self, bundle: OscBundle, sender) -> None:
        timetag = bundle.timestamp
        at = None
        if timetag != 0:
            at = self._frame_for(timetag, "#bundle", sender)
            if at is False:
                return
        for content in bundle:
            if isinstance(content, OscBundle):
                self._handle_bundle(content, sender)
            else:
                self._handle_message(content, sender, at)

    def _frame_for(self, timetag: float, address: str, sender) -> int | None | bool:
        """Engine frame for a timetag (seconds since the Unix epoch); None = now; False = rejected.

        The timetag goes onto the backend clock, then onto the frame grid through the
        last callback's (frame, start time): no sleeping, no per-message clock reads.
        """
        ahead = timetag - time.time()
        if ahead > self.horizon:
            self._reject(sender, address, f"timetag {ahead:.1f} s ahead; at most {self.horizon:g} s", "too_far_ahead")
            return False
        if ahead < -self.late_tolerance:
            self._reject(sender, address, f"timetag {-ahead:.3f} s in the past; tolerance {self.late_tolerance:g} s", "late_bundles")
            return False
        rate = self.engine.options.samplerate
        if self.engine.backend is None:
            frame = self.engine.now_frame() + int(round(ahead * rate))
        else:
            frame = self.engine.clock.frame_at(timetag - self._clock_offset)
        if frame < self.engine.now_frame() + self.engine.options.blocksize:
            self.counters.late_bundles += 1  # too late for its frame: it plays at once
            return None
        return frame

    def _handle_message(self, message: OscMessage, sender, at: int | None = None) -> None:
        address = message.address
        spec = COMMANDS.get(address)
        if spec is None:
            self._reject(sender, address, f"unknown address; known: {', '.join(COMMANDS)}", "unknown")
            return
        if spec.writes and not _is_loopback(sender[0]) and not self.allow_writes_from_network:
            self._reject(sender, address, "only loopback clients may write files or switch patches", "not_allowed")
            return
        try:
            command = make_command(address, list(message.params), at)
        except LiveEngineError as exc:
            self._reject(sender, address, exc.message, "bad_arguments")
            return
        try:
            if not self.engine.submit(command, self._caller(sender)):
                self._reject(sender, address, "the engine could not take it now (queue full or pad not rendered)", "engine_rejected")
                return
        except LiveEngineError as exc:
            self._reject(sender, address, exc.message, "engine_rejected")
            return
        self.counters.handled += 1

    def _caller(self, sender) -> Caller:
        """How the command table's handlers answer this client: replies, feedback, where recordings go."""

        def subscribe(port: int) -> int:
            target = (sender[0], port or sender[1])
            self.subscribers.add(target)
            self._described.clear()  # the newcomer gets every pad's description
            return target[1]

        def unsubscribe(port: int) -> int:
            target = (sender[0], port or sender[1])
            self.subscribers.discard(target)
            return target[1]

        return Caller(reply=lambda address, *args: self.send(sender, address, *args), subscribe=subscribe,
                      unsubscribe=unsubscribe, recordings=self.recordings_dir)

    # ---- replies and feedback ----
    def send(self, target: tuple[str, int], address: str, *args) -> None:
        targets = [t for t in self.subscribers if t[0] == target[0]] or [target]
        data = build_message(address, *args)
        for t in targets:
            try:
                self._sock.sendto(data, t)
            except OSError:
                pass  # the client went away; feedback is best effort

    def _reject(self, sender, address: str, reason: str, counter: str, reply: bool = True) -> None:
        setattr(self.counters, counter, getattr(self.counters, counter) + 1)
        self.counters.by_reason[counter] += 1
        if reply:
            self.send(sender, "/error", address or "?", reason)

    def _feedback_loop(self) -> None:
        """Every subscriber gets: pad descriptions as pads render, playing pads as they change, render
        progress, the output level ten times a second, /status once a second, and the engine's reports.

        A new subscriber gets every pad's description at once (`_described` is cleared on /subscribe).
        """
        seen_reports = self.engine.report_count
        playing: frozenset[int] = frozenset()
        progress = None
        next_status = next_level = 0.0
        while not self._stop.wait(FEEDBACK_TICK):
            if not self.subscribers:
                self._described.clear()
                continue
            messages = []
            rows, cols = self.engine.grid_shape()
            buffers = self.engine.instrument.cache.buffers[: rows * cols]
            for pad, buffer in enumerate(buffers):
                if buffer is not None and self._described.get(pad) is not buffer and buffer.description is not None:
                    self._described[pad] = buffer
                    d = buffer.description
                    messages.append(build_message("/pad/description", pad // cols, pad % cols, d.drum_class or "", float(d.probability),
                                                  float(d.loudness_db), float(d.brightness), *d.color))
            now_playing = self.engine.playing_pads()
            for pad in sorted(now_playing ^ playing):
                messages.append(build_message("/pad/playing", pad // cols, pad % cols, int(pad in now_playing)))
            playing = now_playing
            now_progress = self.engine.render_progress()
            if now_progress != progress:
                progress = now_progress
                messages.append(build_message("/progress", *now_progress))
            now = time.monotonic()
            if now >= next_level:
                next_level = now + LEVEL_SECONDS
                messages.append(build_message("/level", self.engine.shared.float("peak")))
            if now >= next_status:
                next_status = now + FEEDBACK_SECONDS
                messages.append(build_message("/status", *status_values(self.engine)))
            count = self.engine.report_count
            for report in list(self.engine.reports)[-min(count - seen_reports, len(self.engine.reports)):] if count > seen_reports else []:
                messages.append(build_message("/report", report))
            seen_reports = count
            for target in list(self.subscribers):
                for data in messages:
                    try:
                        self._sock.sendto(data, target)
                    except OSError:
                        break  # the client went away; feedback is best effort


def address_table_markdown() -> str:
    """docs/osc.md, generated from liveengine.commands.COMMANDS (a test keeps them equal)."""
    from liveengine.commands import PARAMS

    lines = ["# OSC address space", "",
             "Generated from `liveengine/commands.py` by `python -m liveengine.control.osc.docs`; a test fails if they differ.",
             "", "The server listens on UDP 127.0.0.1:9000 (`--osc-port`). Replies go to the sender, or to its subscribed port.",
             "Errors come back as `/error address reason`. Rows count from 0 at the bottom, as on pad controllers.",
             "Bundles with a timetag start at their exact sample; a bundle too late for its sample plays at once and is",
             "counted; one further ahead than 10 s or older than 0.5 s is rejected.", "",
             "| address | arguments | does | reply | who may send |", "|---|---|---|---|---|"]
    for spec in COMMANDS.values():
        args = spec.shape()
        kinds = "; ".join(f"{a.name}: {a.allowed()}" for a in spec.args + ((spec.tail,) if spec.tail else ()))
        who = "loopback clients (unless the patch allows more)" if spec.writes else "any allowed client"
        lines.append(f"| `{spec.address}` | {args}{' (' + kinds + ')' if kinds else ''} | {spec.doc} | {spec.reply} | {who} |")
    lines += ["", "## Feedback to subscribers", "", "After `/subscribe`, the engine sends these to the subscribed address. "
              "Pads are numbered by row (0 at the bottom) and column.", "", "| address | arguments and meaning |", "|---|---|"]
    for address, doc in FEEDBACK.items():
        lines.append(f"| `{address}` | {doc} |")
    lines += ["", "## Parameters for /param", "", "| name | range | meaning |", "|---|---|---|"]
    for name, (low, high, doc) in PARAMS.items():
        lines.append(f"| `{name}` | {low:g} to {high:g} | {doc} |")
    return "\n".join(lines) + "\n"


