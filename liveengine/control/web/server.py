"""The web panel's server: the page and one WebSocket per browser, on a thread with its own event loop.

aiohttp serves the static page shipped in the package (`static/`: HTML, CSS and JavaScript,
no build step, nothing fetched from elsewhere) and a WebSocket at `/ws`. Every browser
action arrives as JSON text, `{"address": "/pad", "args": [3, 4, 0.8]}`, and takes the
path an OSC message takes: its argument types are checked against the one command table
(a number where the table wants a number, text where it wants text), `make_command` checks
the values, the sender's `TokenBucket` drops floods (counted), the commands that write
files follow the loopback rule, and `Engine.submit` runs the handler with a `Caller` whose
replies (at most MAX_REPLIES a message) go back on the socket. File and patch commands run
on a writer thread, in order, so a slow disk never stalls the event loop.

What the browsers see is the shared feedback (control/feedback.py), the same messages OSC
subscribers get, as JSON arrays (`["/pad/playing", 2, 3, 1]`), plus the panel's own state
(PANEL_STATE): the grid's shape, each parameter, the mapping, the patch. A new connection
gets the whole state at once, so a phone that slept or a page that outlived an engine
restart resyncs by reconnecting. A browser that cannot keep up (MAX_QUEUED_FRAMES frames
waiting) is disconnected and counted; its page reconnects and gets the whole state again.
Losses are reported once a second, as the OSC server reports its own.
"""

from __future__ import annotations

import asyncio
import errno
import json
import math
import secrets
import socket
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from liveengine.commands import COMMANDS, MAPPING_NAMES, PARAMS, make_command
from liveengine.control.feedback import FEEDBACK, TICK, FeedbackSource
from liveengine.control.keys import BLOCK_KEYS
from liveengine.control.rate import TokenBucket
from liveengine.control.web.guard import (TOKEN_COOKIE, host_refusal, is_loopback, lan_address, origin_refusal,
                                          token_matches)
from liveengine.errors import LiveEngineError
from liveengine.handlers import Caller, run_for_client

STATIC = Path(__file__).resolve().parent / "static"
DEFAULT_PORT = 8765
WEB_HOST_HINT = ("Pass --web-host (or set the patch's [web] host) an address of this machine: 127.0.0.1 (the default), "
                 "or 0.0.0.0 for every interface (then a token is needed).")
MAX_MESSAGE_BYTES = 65536  # a WebSocket message past this closes that socket with 1009 (message too big), counted
MAX_ARGUMENTS = 4096  # more than /latent's largest (1025 values and a velocity)
# Per browser address. Ten fingers and a drag make a few hundred a second; a page gone wrong or a
# hostile client is dropped at the door (counted), so it cannot take the event loop from the others.
MAX_MESSAGES_PER_SECOND = 2000
MAX_CLIENTS = 32
MAX_QUEUED_FRAMES = 256  # frames waiting for one slow browser; past this it is disconnected (it reconnects)
MAX_REPLIES = 16
MAX_WAITING_WRITES = 8
LOSS_REPORT_SECONDS = 1.0
HEARTBEAT_SECONDS = 5.0  # a socket that stops answering pings (a phone asleep) is closed; the page reconnects on waking

# What a browser receives besides FEEDBACK (static/app.js reads both).
PANEL_STATE = {
    "/hello": "an object: session (new each time the panel server starts), rows, cols, square, mappings, params (name: [low, high, doc]), feedback (the feedback addresses listed here), token_needed, block_keys (the keyboard's 4x4 block)",
    "/grid": "rows cols: the grid's shape (a /patch may change it)",
    "/param": "name value: a live parameter's value, sent as it changes",
    "/mapping": "name: the grid's mapping",
    "/patch/name": "name: the loaded patch",
    "/pad/info": "an object: one pad's class, probability, loudness, brightness, colour, latent point, nearest library sample and spectrogram (the answer to a view request)",
}
MESSAGE_KEYS = ("address", "args", "t")  # t: the browser's event time (ms since the epoch), for latency measurements


@dataclass
class WebCounters:
    connections: int = 0
    received: int = 0
    handled: int = 0
    malformed: int = 0
    unknown: int = 0
    bad_arguments: int = 0
    not_allowed: int = 0  # refused requests (token, Host, Origin) and file commands from other machines
    too_big: int = 0  # messages past MAX_MESSAGE_BYTES (the socket is closed with 1009)
    flood_dropped: int = 0
    engine_rejected: int = 0
    replies_dropped: int = 0
    busy: int = 0
    rate_limited: int = 0
    too_slow: int = 0  # browsers disconnected because MAX_QUEUED_FRAMES frames waited for them
    failed: int = 0
    by_reason: dict = field(default_factory=lambda: defaultdict(int))


def _clean(value):
    """JSON has no NaN or infinity: such floats go as null (the page shows them as unknown)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def encode(messages: list[tuple]) -> str:
    return json.dumps([[_clean(v) for v in m] for m in messages], separators=(",", ":"), allow_nan=False)


def _json_kind(value) -> str:
    return {bool: "true/false", int: "a number", float: "a number", str: "text", list: "a list", dict: "an object",
            type(None): "null"}.get(type(value), type(value).__name__)


def wrong_type(spec, args: list) -> str:
    """Why JSON arguments do not fit the table's kinds ('' when they do): text where a number goes is refused, as OSC
    refuses a wrong type tag, rather than read."""
    for index, value in enumerate(args):
        arg = spec.arg_at(index, len(args))
        if arg is None:
            if spec.repeat:
                continue  # a group cut short: make_command names the shape
            return f"argument {index + 1} ({_json_kind(value)}) is one too many; expected: {spec.address} {spec.shape()}"
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if (arg.kind is str and not isinstance(value, str)) or (arg.kind is not str and not number):
            return f"argument '{arg.name}' is {_json_kind(value)}; expected {arg.allowed()}"
    return ""


class _Client:
    """One browser's socket: frames wait in a bounded queue that its own task sends."""

    def __init__(self, ws, host: str) -> None:
        self.ws, self.host = ws, host
        self.queue: asyncio.Queue = asyncio.Queue(MAX_QUEUED_FRAMES)
        self.dropped = False

    def send(self, frame: str) -> bool:
        if self.dropped:
            return False
        try:
            self.queue.put_nowait(frame)
            return True
        except asyncio.QueueFull:
            return False


class _Replies:
    """How one message is answered: at most MAX_REPLIES, the rest counted; safe from the writer thread."""

    def __init__(self, server: "WebServer", client: _Client) -> None:
        self.server, self.client, self.left = server, client, MAX_REPLIES

    def __call__(self, address: str, *args) -> None:
        if self.left <= 0:
            self.server.counters.replies_dropped += 1
            return
        self.left -= 1
        frame = encode([(address, *args)])
        if threading.get_ident() == self.server._loop_thread:
            self.client.send(frame)
        else:
            self.server._loop.call_soon_threadsafe(self.client.send, frame)


class WebServer:
    """Serve the panel for one engine. `start()` runs the event loop on a thread; `stop()` ends it.

    host: loopback (the default) needs nothing more; any other address gets a per-session
    token (`token`, or a new one) that every request must carry. allow_writes_from_network:
    file and patch commands from browsers on other machines (the patch's [web] allow_writes).
    """

    def __init__(self, engine, host: str = "127.0.0.1", port: int = DEFAULT_PORT, *, allow_writes_from_network: bool = False,
                 max_messages_per_second: int = MAX_MESSAGES_PER_SECOND, token: str | None = None, recordings_dir: Path | None = None,
                 clock=time.monotonic) -> None:
        self.engine = engine
        self.host = host
        self.loopback_only = is_loopback(host)
        self.token = None if self.loopback_only else (token or secrets.token_urlsafe(16))
        self.allow_writes_from_network = allow_writes_from_network
        self.max_rate = max_messages_per_second
        self._clock = clock  # the rate limits' seconds (a test passes one it moves by hand)
        self.recordings_dir = recordings_dir or Path.cwd()
        self.counters = WebCounters()
        self.session = secrets.token_hex(4)
        self._rate: dict[str, TokenBucket] = {}
        self._per_command = {spec.address: TokenBucket(spec.per_second, clock()) for spec in COMMANDS.values() if spec.per_second}
        self._clients: set[_Client] = set()
        self._writes = ThreadPoolExecutor(max_workers=1, thread_name_prefix="liveengine-web-writes")
        self._waiting_writes = 0
        self._sock = self._listen(host, port)
        self.address = self._sock.getsockname()[:2]
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread = -1
        self._thread: threading.Thread | None = None
        self._runner = None
        self._feedback_task = None
        self._started = threading.Event()
        self._start_error: BaseException | None = None

    @staticmethod
    def _listen(host: str, port: int) -> socket.socket:
        try:
            family, kind, proto, _, where = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        except socket.gaierror as exc:
            raise LiveEngineError(f"cannot serve the web panel on {host}:{port}: the host name {host!r} does not resolve ({exc.strerror}).",
                                  WEB_HOST_HINT) from None
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a restarted engine takes its port back at once
        try:
            sock.bind(where)
            sock.listen(64)
        except OSError as exc:
            sock.close()
            if exc.errno == errno.EADDRNOTAVAIL:  # the host is wrong, not the port: another port would fail the same way
                raise LiveEngineError(f"cannot serve the web panel on {host}:{port}: {host} is not an address of this machine "
                                      f"({exc.strerror}).", WEB_HOST_HINT) from None
            raise LiveEngineError(f"cannot serve the web panel on {host}:{port}: {exc.strerror}.", "Pick another port with --web PORT.") from None
        sock.setblocking(False)
        return sock

    @property
    def url(self) -> str:
        """The address to open: this machine's LAN address and the token when not on loopback."""
        host, port = self.address
        if self.loopback_only:
            shown = f"[{host}]" if ":" in host else host
            return f"http://{shown}:{port}/"
        shown = lan_address() if host in ("0.0.0.0", "::") else host
        shown = f"[{shown}]" if ":" in shown else shown
        return f"http://{shown}:{port}/?token={self.token}"

    # ---- lifecycle ----
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="liveengine-web", daemon=True)
        self._thread.start()
        self._started.wait(10.0)
        if self._start_error is not None:
            raise LiveEngineError(f"the web panel could not start: {self._start_error}.")

    def _run(self) -> None:
        loop = self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop_thread = threading.get_ident()
        try:
            loop.run_until_complete(self._serve())
        except BaseException as exc:  # reported by start()
            self._start_error = exc
            self._started.set()
            loop.close()
            return
        self._started.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _serve(self) -> None:
        from aiohttp import web

        @web.middleware
        async def guard(request, handler):
            return await self._guard(request, handler)

        app = web.Application(middlewares=[guard], client_max_size=MAX_MESSAGE_BYTES)
        app.router.add_get("/", self._index)
        app.router.add_get("/ws", self._socket)
        app.router.add_static("/static/", STATIC, follow_symlinks=False)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        await web.SockSite(self._runner, self._sock).start()
        self._feedback_task = asyncio.get_running_loop().create_task(self._feedback_loop())

    def stop(self) -> None:
        """Close every socket (code 1001: the pages reconnect to the next server) and end the thread."""
        loop = self._loop
        if loop is not None and self._thread is not None and self._thread.is_alive():
            try:
                asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(timeout=5.0)
            except Exception:
                pass  # stopping goes on: the loop ends below whatever the sockets did
            loop.call_soon_threadsafe(loop.stop)
            self._thread.join(timeout=5.0)
        self._writes.shutdown(wait=False, cancel_futures=True)
        self._sock.close()

    async def _shutdown(self) -> None:
        from aiohttp import WSCloseCode

        if self._feedback_task is not None:
            self._feedback_task.cancel()
        closing = [asyncio.ensure_future(client.ws.close(code=WSCloseCode.GOING_AWAY, message=b"the engine is stopping"))
                   for client in list(self._clients)]
        if closing:
            await asyncio.wait(closing, timeout=1.0)  # a browser that does not answer the close is not waited for
        if self._runner is not None:
            await self._runner.cleanup()

    # ---- who may come in ----
    def _refuse(self, status: int, reason: str):
        from aiohttp import web

        self.counters.not_allowed += 1
        self.counters.by_reason["not_allowed"] += 1
        return web.Response(status=status, text=f"liveengine web panel: {reason}.\n", content_type="text/plain")

    async def _guard(self, request, handler):
        refusal = host_refusal(request.headers.get("Host"), self.loopback_only)
        if refusal:
            return self._refuse(403, refusal)
        if self.token is not None and not (token_matches(request.query.get("token"), self.token)
                                           or token_matches(request.cookies.get(TOKEN_COOKIE), self.token)):
            given = request.query.get("token") or request.cookies.get(TOKEN_COOKIE)
            # A wrong token is told from none: an old address (the token is new each time play starts) reads differently.
            return self._refuse(403, "this session's token is not the one given (each `liveengine play` makes a new one); "
                                     "open the address it printed this time" if given else
                                "this panel needs the session token; open the address `liveengine play` printed, token included")
        response = await handler(request)
        if self.token is not None and request.path == "/" and token_matches(request.query.get("token"), self.token):
            response.set_cookie(TOKEN_COOKIE, self.token, httponly=True, samesite="Strict", path="/")
        return response

    async def _index(self, request):
        from aiohttp import web

        response = web.FileResponse(STATIC / "index.html")
        response.headers["Cache-Control"] = "no-store"
        response.headers["Content-Security-Policy"] = ("default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; "
                                                       "frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    # ---- one browser ----
    async def _socket(self, request):
        from aiohttp import WSCloseCode, WSMsgType, web

        refusal = origin_refusal(request.headers.get("Origin"), request.headers.get("Host"))
        if refusal:
            return self._refuse(403, refusal)
        if len(self._clients) >= MAX_CLIENTS:
            return web.Response(status=503, text=f"liveengine web panel: {MAX_CLIENTS} browsers are connected, the most it serves.\n")
        ws = web.WebSocketResponse(max_msg_size=MAX_MESSAGE_BYTES, heartbeat=HEARTBEAT_SECONDS, compress=False)
        await ws.prepare(request)
        client = _Client(ws, request.remote or "")
        self.counters.connections += 1
        client.send(encode(self.snapshot()))
        self._clients.add(client)
        sender = asyncio.get_running_loop().create_task(self._send_loop(client))
        try:
            async for message in ws:
                if message.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                    self.handle_text(client, message.data)
                elif message.type == WSMsgType.ERROR:
                    if getattr(message.data, "code", None) == WSCloseCode.MESSAGE_TOO_BIG:
                        self._count("too_big")
                    break
        finally:
            self._clients.discard(client)
            sender.cancel()
        return ws

    async def _send_loop(self, client: _Client) -> None:
        try:
            while True:
                frame = await client.queue.get()
                await client.ws.send_str(frame)
        except (ConnectionError, RuntimeError):
            pass  # the browser went away; its page reconnects

    def snapshot(self) -> list[tuple]:
        """Everything a newly connected page needs: who we are, then the whole feedback state and panel state."""
        rows, cols = self.engine.grid_shape()
        from liveengine.grid.mappings import SQUARE

        hello = {"session": self.session, "rows": rows, "cols": cols, "square": SQUARE, "mappings": list(MAPPING_NAMES),
                 "params": {name: [low, high, doc] for name, (low, high, doc) in PARAMS.items()},
                 "feedback": list(FEEDBACK), "token_needed": self.token is not None, "block_keys": list(BLOCK_KEYS)}
        return [("/hello", hello)] + self._panel_state({}) + FeedbackSource(self.engine).poll()

    def _panel_state(self, sent: dict) -> list[tuple]:
        """Panel state messages for what differs from `sent` (updated in place)."""
        engine = self.engine
        now = {"/grid": engine.grid_shape(), "/mapping": (engine.instrument.setting.mapping,), "/patch/name": (engine.instrument.patch.name,)}
        now.update({f"/param {name}": (name, float(engine.param_value(name))) for name in PARAMS})
        messages = []
        for key, value in now.items():
            if sent.get(key) != value:
                sent[key] = value
                messages.append((key.split(" ")[0], *value))
        return messages

    # ---- what a browser sends ----
    def handle_text(self, client: _Client, text: str | bytes) -> None:
        """Check and act on one message (on the event loop); never raises."""
        if not self._within_rate(client.host):
            self._count("flood_dropped")
            return
        self.counters.received += 1
        replies = _Replies(self, client)
        if not isinstance(text, str):
            self._reject(replies, "", 'binary frames are not read; send JSON text such as {"address": "/pad", "args": [3, 4, 0.8]}', "malformed")
            return
        try:
            data = json.loads(text)
        except ValueError:
            self._reject(replies, "", 'not JSON; send {"address": "/pad", "args": [row, col, velocity]}', "malformed")
            return
        except RecursionError:  # '[' * 1000: the decoder's recursion ran out (it dropped the socket, with a traceback)
            self._reject(replies, "", 'JSON nested too deep; send {"address": "/pad", "args": [row, col, velocity]}', "malformed")
            return
        if isinstance(data, dict) and "view" in data:
            self._view(data, replies)
            return
        if not isinstance(data, dict) or not isinstance(data.get("address"), str):
            self._reject(replies, "", 'a message is an object with "address" (text) and "args" (a list), '
                         'e.g. {"address": "/pad", "args": [3, 4, 0.8]}', "malformed")
            return
        address = data["address"][:64]
        extra = sorted(set(data) - set(MESSAGE_KEYS))
        if extra:
            self._reject(replies, address, f"unknown key(s) {', '.join(map(repr, extra[:4]))}; allowed: {', '.join(MESSAGE_KEYS)}", "malformed")
            return
        spec = COMMANDS.get(address)
        if spec is None:
            self._reject(replies, address, f"unknown address; known: {', '.join(COMMANDS)}", "unknown")
            return
        args = data.get("args", [])
        if not isinstance(args, list) or len(args) > MAX_ARGUMENTS:
            self._reject(replies, address, f'"args" must be a list of at most {MAX_ARGUMENTS} values; expected: {address} {spec.shape()}', "bad_arguments")
            return
        wrong = wrong_type(spec, args)
        if wrong:
            self._reject(replies, address, wrong, "bad_arguments")
            return
        if spec.writes and not is_loopback(client.host) and not self.allow_writes_from_network:
            self._reject(replies, address, "only a browser on this machine may write files or switch patches "
                         "(the patch's [web] allow_writes lets others)", "not_allowed")
            return
        try:
            command = make_command(address, args)
        except LiveEngineError as exc:
            self._reject(replies, address, exc.message, "bad_arguments")
            return
        bucket = self._per_command.get(address)
        if bucket is not None and not bucket.take(self._clock()):
            self._reject(replies, address, f"at most {spec.per_second} a second; this one was dropped", "rate_limited")
            return
        if spec.writes:
            if self._waiting_writes >= MAX_WAITING_WRITES:
                self._reject(replies, address, f"busy: {MAX_WAITING_WRITES} file or patch commands are waiting", "busy")
                return
            self._waiting_writes += 1
            future = self._loop.run_in_executor(self._writes, self._submit, command, replies)
            future.add_done_callback(self._write_done)
            return
        self._submit(command, replies)

    def _write_done(self, future) -> None:
        self._waiting_writes -= 1

    def _within_rate(self, host: str) -> bool:
        now = self._clock()
        bucket = self._rate.get(host)
        if bucket is None:
            bucket = self._rate[host] = TokenBucket(self.max_rate, now)
        return bucket.take(now)

    def _caller(self, replies: _Replies) -> Caller:
        def subscribed(port: int) -> int:
            return 0  # a panel is subscribed from the moment it connects

        return Caller(reply=replies, subscribe=subscribed, unsubscribe=subscribed, recordings=self.recordings_dir)

    def _submit(self, command, replies: _Replies) -> None:
        """Run a checked command (the event loop, or the writer thread for file commands)."""
        reject = lambda address, reason, counter: self._reject(replies, address, reason, counter)  # noqa: E731
        if run_for_client(self.engine, command, self._caller(replies), reject, "web panel"):
            self.counters.handled += 1

    def _view(self, data: dict, replies: _Replies) -> None:
        """A read-only view the page asks for (no command: nothing changes): {"view": "pad", "row": R, "col": C}."""
        from liveengine.control.web.views import pad_info

        if data.get("view") != "pad" or set(data) != {"view", "row", "col"}:
            self._reject(replies, "view", 'views: {"view": "pad", "row": R, "col": C}', "malformed")
            return
        row, col = data["row"], data["col"]
        rows, cols = self.engine.grid_shape()
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (row, col)) or not (0 <= row < rows and 0 <= col < cols):
            self._reject(replies, "view", f"pad ({row!r}, {col!r}) is not on the {rows}x{cols} grid", "bad_arguments")
            return
        self.counters.handled += 1
        replies("/pad/info", pad_info(self.engine, row, col))

    def _count(self, counter: str) -> None:
        setattr(self.counters, counter, getattr(self.counters, counter) + 1)
        self.counters.by_reason[counter] += 1

    def _reject(self, replies: _Replies | None, address: str, reason: str, counter: str) -> None:
        self._count(counter)
        if replies is not None:
            replies("/error", address or "?", reason)

    # ---- feedback ----
    async def _feedback_loop(self) -> None:
        from aiohttp import WSCloseCode

        source = FeedbackSource(self.engine)
        sent: dict = {}
        self._panel_state(sent)  # what each page got in its snapshot
        reported = (0,) * 6
        next_losses = 0.0
        while True:
            await asyncio.sleep(TICK)
            now = time.monotonic()
            if now >= next_losses:
                next_losses = now + LOSS_REPORT_SECONDS
                reported = self._report_losses(reported)
            try:
                state = self._panel_state(sent)  # kept current with no page open: a page's snapshot has it
                if not self._clients:
                    continue
                messages = state + source.poll(now)
            except Exception as exc:  # an engine swapping its instrument mid-read: the next tick reads again
                self.engine.report(f"web panel feedback failed once: {type(exc).__name__}: {exc}")
                continue
            if not messages:
                continue
            frame = encode(messages)
            for client in list(self._clients):
                if not client.send(frame):
                    client.dropped = True
                    self._clients.discard(client)
                    self._count("too_slow")
                    asyncio.get_running_loop().create_task(client.ws.close(code=WSCloseCode.TRY_AGAIN_LATER, message=b"too slow; reconnect"))

    def _report_losses(self, reported: tuple) -> tuple:
        c = self.counters
        totals = (c.flood_dropped, c.too_big, c.replies_dropped, c.busy, c.rate_limited, c.too_slow)
        names = (f"over the flood limit ({self.max_rate} messages a second per browser)", f"messages over {MAX_MESSAGE_BYTES} bytes (socket closed)",
                 f"replies past {MAX_REPLIES} per message", f"file commands refused while {MAX_WAITING_WRITES} waited",
                 "commands past their own rate (" + ", ".join(f"{a} {COMMANDS[a].per_second} a second" for a in self._per_command) + ")",
                 f"browsers disconnected for falling {MAX_QUEUED_FRAMES} frames behind")
        parts = [f"{now - before} {name}" for now, before, name in zip(totals, reported, names) if now > before]
        if parts:
            self.engine.report("web panel lost " + ", ".join(parts))
        return totals


def print_address(server: WebServer, say) -> None:
    """Say where the panel is; off loopback also as a QR code a phone's camera reads (segno, on a terminal only)."""
    say(f"web panel: {server.url}")
    if server.token is None:
        return
    say("web panel: the address carries this session's token; anyone with it on your network can play.")
    import sys

    if sys.stdout.isatty():
        import segno

        segno.make(server.url, error="m").terminal(compact=True)
