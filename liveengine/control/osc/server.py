"""The OSC server: our own receive loop over python-osc's parsing.

python-osc's servers are not fit for a stage: a bundle timetagged in the future
stalls everything behind it (its dispatcher sleeps until the time), a packet with
bad UTF-8 raises past its ParseError handler, and datagrams over 8,192 bytes are
dropped silently. Here one thread receives, parses (wire.py: an unknown type tag is
refused, never skipped), checks each message against the command table and hands it
to the engine at once; timetagged bundles become engine frames (sample-accurate, no
thread sleeps). Commands that write files or load patches (`writes` in the table) run
on a second thread, so a slow disk never stalls the receive thread. Every rejection
and every loss is counted: rejections are answered with `/error address reason`,
losses (flood limit, kernel receive buffer, reply limit) are reported once a second.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import queue
import socket
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from pythonosc.osc_message_builder import OscMessageBuilder

from liveengine.commands import COMMANDS, make_command
from liveengine.control.feedback import FEEDBACK, TICK as FEEDBACK_TICK, FeedbackSource
from liveengine.control.osc.wire import MAX_BUNDLE_DEPTH, Bundle, Message, MalformedPacket, parse
from liveengine.control.rate import TokenBucket
from liveengine.errors import LiveEngineError
from liveengine.handlers import Caller, run_for_client

MAX_DATAGRAM = 65507  # the largest UDP payload; anything the network delivers is read whole
MAX_MESSAGES_PER_SECOND = 20000  # per client address; past this messages are dropped unread (flood_dropped)
MAX_SUBSCRIBERS = 16  # each gets every feedback message; past this /subscribe is refused
MAX_REPLIES = 16  # replies (and /error) to one datagram; a bundle of 3,000 /ping gets 16 /pong, the rest are counted
MAX_WAITING_WRITES = 8  # file and patch commands waiting for the writer thread; past this they are refused
LOSS_REPORT_SECONDS = 1.0
OSC_HOST_HINT = ("Pass --osc-host an IPv4 address of this machine: 127.0.0.1 (the default), "
                 "or 0.0.0.0 for every interface (with --osc-allow).")
# Which OSC type tags each kind of argument accepts (Pd's oscformat sends every number as 'f').
TAGS = {int: ("ihfd", "i or h, or f or d holding a whole number"), float: ("fdih", "f, d, i or h"), str: ("sS", "s or S")}

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
    kernel_dropped: int = 0  # datagrams the OS dropped because the receive buffer was full (Linux: /proc/net/udp)
    replies_dropped: int = 0  # replies past MAX_REPLIES for one datagram
    busy: int = 0  # file commands refused: MAX_WAITING_WRITES were waiting
    rate_limited: int = 0  # commands past their table's per_second (/capture)
    failed: int = 0  # a handler raised something other than LiveEngineError (a bug, reported)
    by_reason: dict = field(default_factory=lambda: defaultdict(int))


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def kernel_drops(sock: socket.socket) -> int | None:
    """Datagrams the OS dropped for this UDP socket (receive buffer full), from /proc/net/udp; None where unknown."""
    try:
        inode = str(os.fstat(sock.fileno()).st_ino)
        with open("/proc/net/udp") as table:  # columns: sl local remote st queues tr retrnsmt uid timeout inode ref pointer drops
            for line in table:
                fields = line.split()
                if len(fields) > 12 and fields[9] == inode:
                    return int(fields[12])
    except (OSError, ValueError):
        pass  # not Linux, or the socket is closed
    return None


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


class _Replies:
    """How one datagram is answered: at most MAX_REPLIES messages, the rest counted (replies_dropped)."""

    def __init__(self, server: "OscServer", sender: tuple[str, int]) -> None:
        self.server, self.sender, self.left = server, sender, MAX_REPLIES

    def __call__(self, address: str, *args) -> None:
        if self.left <= 0:
            self.server.counters.replies_dropped += 1
            return
        self.left -= 1
        self.server.send(self.sender, address, *args)


class OscServer:
    """Serve the address table over UDP for one engine. `start()` spawns the receive, writer and feedback threads."""

    def __init__(self, engine, host: str = "127.0.0.1", port: int = 9000, *, allow: tuple[str, ...] = (),
                 allow_writes_from_network: bool = False, horizon_seconds: float = 10.0, late_tolerance_seconds: float = 0.5,
                 max_messages_per_second: int = MAX_MESSAGES_PER_SECOND, recordings_dir: Path | None = None,
                 clock=time.monotonic, wall=time.time) -> None:
        if not _is_loopback(host) and not allow:
            raise LiveEngineError(f"OSC host {host} is not loopback, and no client addresses are allowed.",
                                  "Name the clients that may connect (--osc-allow ADDRESS), or listen on 127.0.0.1.")
        self.engine = engine
        self.allow = tuple(allow)
        self.allow_writes_from_network = allow_writes_from_network
        self.horizon = horizon_seconds
        self.late_tolerance = late_tolerance_seconds
        self.max_rate = max_messages_per_second
        # The rate limits' seconds and the Unix time timetags are read against (a test passes clocks it moves by hand).
        self._clock, self._wall = clock, wall
        self.recordings_dir = recordings_dir or Path.cwd()
        self.counters = OscCounters()
        # A subscription belongs to the (address, port) that sent /subscribe: that sender's replies and
        # the feedback go to its subscribed port, and no other client's replies do.
        self.subscribers: dict[tuple[str, int], tuple[str, int]] = {}
        self._feedback = FeedbackSource(engine)
        self._rate: dict[str, TokenBucket] = {}
        self._per_command = {spec.address: TokenBucket(spec.per_second, clock()) for spec in COMMANDS.values() if spec.per_second}
        self._writes: queue.Queue = queue.Queue(MAX_WAITING_WRITES)
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 21)
        try:
            self._sock.bind((host, port))
        except OSError as exc:
            self._sock.close()
            # The host is wrong, not the port (another port would fail the same way): a name that does not resolve
            # to an IPv4 address, or an address that is not this machine's.
            if isinstance(exc, socket.gaierror):
                raise LiveEngineError(f"cannot listen for OSC on {host}:{port}: the host {host!r} does not resolve to an IPv4 address "
                                      f"({exc.strerror}).", OSC_HOST_HINT) from None
            if exc.errno == errno.EADDRNOTAVAIL:
                raise LiveEngineError(f"cannot listen for OSC on {host}:{port}: {host} is not an address of this machine ({exc.strerror}).",
                                      OSC_HOST_HINT) from None
            raise LiveEngineError(f"cannot listen for OSC on {host}:{port}: {exc.strerror}.", "Pick another port with --osc-port.") from None
        self.address = self._sock.getsockname()
        self._sock.settimeout(0.2)
        self._clock_offset = 0.0
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._receive_loop, name="liveengine-osc", daemon=True),
                         threading.Thread(target=self._write_loop, name="liveengine-osc-writes", daemon=True),
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
            try:
                self.handle_datagram(data, sender)
            except Exception as exc:  # a bug must not leave the show deaf to OSC: counted, said, and the loop listens on
                self.counters.failed += 1
                self.counters.by_reason["failed"] += 1
                self.engine.report(f"OSC: a datagram from {sender[0]} failed ({type(exc).__name__}); still listening")

    def handle_datagram(self, data: bytes, sender: tuple[str, int]) -> None:
        """Parse and act on one datagram; never raises."""
        host = sender[0]
        if self.allow and not _is_loopback(host) and host not in self.allow:
            self._reject(None, "", "client not allowed", "not_allowed")
            return
        if not self._within_rate(host):
            self.counters.flood_dropped += 1
            return
        self.counters.received += 1
        replies = _Replies(self, sender)
        try:
            packet = parse(data)
        except MalformedPacket as exc:
            self._reject(replies, "", f"malformed OSC packet ({exc})", "malformed")
            return
        if isinstance(packet, Bundle):
            self._clock_offset = self._wall_minus_clock()
            self._handle_bundle(packet, replies)
        else:
            self._handle_message(packet, replies)

    def _within_rate(self, host: str) -> bool:
        """A token bucket per client: floods are dropped and counted, never queued."""
        now = self._clock()
        bucket = self._rate.get(host)
        if bucket is None:
            bucket = self._rate[host] = TokenBucket(self.max_rate, now)
        return bucket.take(now)

    def _wall_minus_clock(self) -> float:
        """Unix time minus the backend clock, read once per datagram so one bundle maps to one frame."""
        return self._wall() - self.engine.clock.now()

    def _handle_bundle(self, bundle: Bundle, replies: _Replies) -> None:
        at = None
        if bundle.timetag != 0:
            at = self._frame_for(bundle.timetag, "#bundle", replies)
            if at is False:
                return
        for content in bundle.contents:
            if isinstance(content, Bundle):
                self._handle_bundle(content, replies)
            else:
                self._handle_message(content, replies, at)

    def _frame_for(self, timetag: float, address: str, replies: _Replies) -> int | None | bool:
        """Engine frame for a timetag (seconds since the Unix epoch); None = now; False = rejected.

        The timetag goes onto the backend clock, then onto the frame grid through the
        last callback's (frame, start time): no sleeping, no per-message clock reads.
        """
        ahead = timetag - self._wall()
        if ahead > self.horizon:
            self._reject(replies, address, f"timetag {ahead:.1f} s ahead; at most {self.horizon:g} s", "too_far_ahead")
            return False
        if ahead < -self.late_tolerance:
            self._reject(replies, address, f"timetag {-ahead:.3f} s in the past; tolerance {self.late_tolerance:g} s", "late_bundles")
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

    def _handle_message(self, message: Message, replies: _Replies, at: int | None = None) -> None:
        address = message.address
        spec = COMMANDS.get(address)
        if spec is None:
            self._reject(replies, address, f"unknown address; known: {', '.join(COMMANDS)}", "unknown")
            return
        wrong_tag = self._wrong_tag(spec, message)
        if wrong_tag:
            self._reject(replies, address, wrong_tag, "bad_arguments")
            return
        if spec.writes and not _is_loopback(replies.sender[0]) and not self.allow_writes_from_network:
            self._reject(replies, address, "only loopback clients may write files or switch patches", "not_allowed")
            return
        try:
            command = make_command(address, message.args, at)
        except LiveEngineError as exc:
            self._reject(replies, address, exc.message, "bad_arguments")
            return
        bucket = self._per_command.get(address)
        if bucket is not None and not bucket.take(self._clock()):
            self._reject(replies, address, f"at most {spec.per_second} a second; this one was dropped", "rate_limited")
            return
        if spec.writes:
            try:
                self._writes.put_nowait((command, replies))
            except queue.Full:
                self._reject(replies, address, f"busy: {MAX_WAITING_WRITES} file or patch commands are waiting", "busy")
            return
        self._submit(command, replies)

    @staticmethod
    def _wrong_tag(spec, message: Message) -> str:
        """Why the message's OSC type tags do not fit the table's arguments ('' when they do)."""
        if message.bad_tag:
            return f"type tag '{message.bad_tag}' is not read here; allowed: i, h, f, d (numbers), s, S (text)"
        for index, tag in enumerate(message.tags):
            arg = spec.arg_at(index, len(message.tags))
            if arg is None:
                if spec.repeat:
                    continue  # a group cut short: make_command names the shape
                return f"argument {index + 1} (type tag '{tag}') is one too many; expected: {spec.address} {spec.shape()}"
            allowed, words = TAGS[arg.kind]
            if tag not in allowed:
                return f"argument '{arg.name}' has type tag '{tag}'; expected {arg.allowed()} (type tag {words})"
        return ""

    def _submit(self, command, replies: _Replies) -> None:
        reject = lambda address, reason, counter: self._reject(replies, address, reason, counter)  # noqa: E731
        if run_for_client(self.engine, command, self._caller(replies), reject, "OSC"):
            self.counters.handled += 1

    def _write_loop(self) -> None:
        """File and patch commands, one at a time, in the order they came."""
        while not self._stop.is_set():
            try:
                command, replies = self._writes.get(timeout=0.2)
            except queue.Empty:
                continue
            self._submit(command, replies)

    def _caller(self, replies: _Replies) -> Caller:
        """How the command table's handlers answer this client: replies, feedback, where recordings go."""
        sender = replies.sender

        def subscribe(port: int) -> int:
            if sender not in self.subscribers and len(self.subscribers) >= MAX_SUBSCRIBERS:
                raise LiveEngineError(f"{MAX_SUBSCRIBERS} clients are subscribed already, the most the engine feeds; "
                                      "another must /unsubscribe first.")
            self.subscribers[sender] = (sender[0], port or sender[1])
            self._feedback.resend_descriptions()  # the newcomer gets every pad's description
            return self.subscribers[sender][1]

        def unsubscribe(port: int) -> int:
            return self.subscribers.pop(sender, (sender[0], port or sender[1]))[1]

        return Caller(reply=replies, subscribe=subscribe, unsubscribe=unsubscribe, recordings=self.recordings_dir)

    # ---- replies and feedback ----
    def send(self, sender: tuple[str, int], address: str, *args) -> None:
        """A reply to `sender`, at its subscribed port if it subscribed."""
        try:
            self._sock.sendto(build_message(address, *args), self.subscribers.get(sender, sender))
        except OSError:
            pass  # the client went away; replies are best effort

    def _reject(self, replies: _Replies | None, address: str, reason: str, counter: str) -> None:
        setattr(self.counters, counter, getattr(self.counters, counter) + 1)
        self.counters.by_reason[counter] += 1
        if replies is not None:
            replies("/error", address or "?", reason)

    def _report_losses(self, reported: tuple) -> tuple:
        """Say what was lost since the last report (engine.report: the terminal and every subscriber's /report)."""
        drops = kernel_drops(self._sock)
        c = self.counters
        if drops is not None:
            c.kernel_dropped = drops  # the socket's own count, since it opened
        totals = (c.flood_dropped, c.kernel_dropped, c.replies_dropped, c.busy, c.rate_limited)
        names = (f"over the flood limit ({self.max_rate} messages a second per client)",
                 "dropped by the kernel (receive buffer full)", f"replies past {MAX_REPLIES} per datagram",
                 f"file commands refused while {MAX_WAITING_WRITES} waited",
                 "commands past their own rate (" + ", ".join(f"{a} {COMMANDS[a].per_second} a second" for a in self._per_command) + ")")
        parts = [f"{now - before} {name}" for now, before, name in zip(totals, reported, names) if now > before]
        if parts:
            self.engine.report("OSC lost " + ", ".join(parts))
        return totals

    def _feedback_loop(self) -> None:
        """Every subscriber gets the shared feedback (control/feedback.py): pad descriptions as pads render,
        playing pads as they change, render progress, the output level, /status and the engine's reports.

        A new subscriber gets every pad's description at once (`resend_descriptions` on /subscribe).
        """
        next_losses = 0.0
        reported = (0, 0, 0, 0, 0)
        while not self._stop.wait(FEEDBACK_TICK):
            if time.monotonic() >= next_losses:
                next_losses = time.monotonic() + LOSS_REPORT_SECONDS
                reported = self._report_losses(reported)
            if not self.subscribers:
                self._feedback.resend_descriptions()
                continue
            messages = [build_message(*message) for message in self._feedback.poll()]
            for target in set(self.subscribers.values()):  # two senders subscribed to one port get one copy
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
             "Type tags: whole-number arguments take `i`, `h`, or `f`/`d` holding a whole number (Pd sends every number as `f`);",
             "numbers take `f`, `d`, `i`, `h`; text takes `s`, `S`. Any other or extra tag is refused with `/error` naming it.", "",
             f"Limits: {MAX_MESSAGES_PER_SECOND:,} messages a second per client address (the rest are dropped unread);",
             f"datagrams up to {MAX_DATAGRAM:,} bytes, read whole, bundles nested {MAX_BUNDLE_DEPTH} deep; {MAX_SUBSCRIBERS} subscribers; {MAX_REPLIES} replies per datagram (a bundle of many `/ping` gets {MAX_REPLIES} `/pong`);",
             f"{MAX_WAITING_WRITES} file or patch commands waiting (they run off the receive thread, in order); "
             "past a limit the message is refused or dropped and counted, and `/report` says what was lost once a second.", "",
             "| address | arguments | does | reply | who may send |", "|---|---|---|---|---|"]
    for spec in COMMANDS.values():
        args = spec.shape()
        kinds = "; ".join(f"{a.name}: {a.allowed()}" for a in spec.args + ((spec.tail,) if spec.tail else ()))
        who = "loopback clients (unless the patch allows more)" if spec.writes else "any allowed client"
        who += f", at most {spec.per_second} a second in all" if spec.per_second else ""
        lines.append(f"| `{spec.address}` | {args}{' (' + kinds + ')' if kinds else ''} | {spec.doc} | {spec.reply} | {who} |")
    lines += ["", "## Feedback to subscribers", "", "After `/subscribe`, the engine sends these to the subscribed address. "
              "Pads are numbered by row (0 at the bottom) and column.", "", "| address | arguments and meaning |", "|---|---|"]
    for address, doc in FEEDBACK.items():
        lines.append(f"| `{address}` | {doc} |")
    lines += ["", "## Parameters for /param", "", "| name | range | meaning |", "|---|---|---|"]
    for name, (low, high, doc) in PARAMS.items():
        lines.append(f"| `{name}` | {low:g} to {high:g} | {doc} |")
    return "\n".join(lines) + "\n"


