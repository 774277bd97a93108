"""The web panel's door: bad input over the WebSocket, the token, Host and Origin checks, the limits.

A real aiohttp server and client on real sockets, against an engine on the offline backend (no
sound is needed to see that a command was taken: the engine logs every hit).
"""

from __future__ import annotations

import asyncio
import json
import re
import time

import aiohttp
import pytest

from liveengine.audio.offline import OfflineBackend
from liveengine.commands import make_command
from liveengine.control.web.guard import is_loopback, lan_address
from liveengine.control.web.server import MAX_MESSAGE_BYTES, WebServer
from liveengine.engine import Engine
from liveengine.patch import load_patch
from liveengine.testing.clock import HandClock
from liveengine.testing.jack_rig import wait_for


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    path = tmp_path_factory.mktemp("websock") / "short.toml"
    path.write_text('[model]\ndecoder = "builtin:testsynth"\n[grid]\nrows = 8\ncols = 8\n[engine]\nmax_seconds = 0.05\nrender_in = "thread"\n')
    engine = Engine(load_patch(path))
    assert engine.wait_rendered(timeout=60)
    o = engine.options
    engine.start(OfflineBackend(o.samplerate, o.blocksize, o.channels))
    yield engine
    engine.stop()


@pytest.fixture
def serve(engine):
    made = []

    def make(host: str = "127.0.0.1", **options) -> WebServer:
        server = WebServer(engine, host, 0, **options)
        server.start()
        made.append(server)
        return server

    yield make
    for server in made:
        server.stop()


def run(coroutine):
    return asyncio.run(asyncio.wait_for(coroutine, 20))


FEEDBACK = ("/level", "/status", "/progress", "/pad/playing", "/pad/description", "/param", "/report", "/grid", "/mapping", "/patch/name")


async def replies(ws, count: int, skip=FEEDBACK) -> list:
    """The next `count` messages that are not feedback."""
    found = []
    while len(found) < count:
        frame = await ws.receive(timeout=5)
        assert frame.type == aiohttp.WSMsgType.TEXT, frame
        found += [m for m in json.loads(frame.data) if m[0] not in skip]
    return found


async def exchange(url: str, sends: list, count: int, **connect) -> list:
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(url, **connect) as ws:
            hello = json.loads((await ws.receive(timeout=5)).data)
            assert hello[0][0] == "/hello"
            for message in sends:
                await (ws.send_bytes(message) if isinstance(message, bytes) else ws.send_str(message if isinstance(message, str) else json.dumps(message)))
            return await replies(ws, count)


def ws_url(server: WebServer) -> str:
    return f"http://127.0.0.1:{server.address[1]}/ws"


BAD = [
    ("junk", "not JSON"),
    ("[" * 1000 + "]" * 1000, "JSON nested too deep"),  # once a traceback and a dropped socket
    ('{"address": "/pad", "args": ' + "[" * 5000 + "]" * 5000 + "}", "JSON nested too deep"),
    ('["/pad", 1, 2]', 'a message is an object with "address"'),
    ({"address": 7}, 'a message is an object with "address"'),
    ({"address": "/nope"}, "unknown address"),
    ({"address": "/pad", "args": ["3", 4]}, "argument 'row' is text; expected an integer from 0 to 15"),
    ({"address": "/pad", "args": [True, 4]}, "argument 'row' is true/false"),
    ({"address": "/pad", "args": [3, 4, 0.5, 9]}, "one too many"),
    ({"address": "/pad", "args": [3]}, "got 1 argument(s)"),
    ({"address": "/pad", "args": [3, 99]}, "argument 'col' is 99"),
    ({"address": "/pad", "args": [3.5, 4]}, "argument 'row' is 3.5"),
    ({"address": "/pad", "args": {"row": 3}}, '"args" must be a list'),
    ({"address": "/pad", "args": [3, 4], "extra": 1}, "unknown key(s) 'extra'"),
    ({"address": "/param", "args": ["zoom", 99]}, "out of range"),
    ({"address": "/mapping", "args": ["nonsense"]}, "allowed: one of plane"),
    ({"address": "/patch", "args": ["../../etc/passwd"]}, "a name of letters"),
    ({"view": "pad", "row": 1, "col": 99}, "is not on the 8x8 grid"),
    ({"view": "secrets"}, "views:"),
    (b"\x00\x01binary", "binary frames are not read"),
]


def test_bad_messages_get_one_clear_refusal_each_and_the_engine_plays_on(engine, serve):
    server = serve()
    hits = len(engine.hits)
    got = run(exchange(ws_url(server), [m for m, _ in BAD] + [{"address": "/pad", "args": [3, 4, 0.8]}, {"address": "/ping"}], len(BAD) + 1))
    for (message, reason), reply in zip(BAD, got):
        assert reply[0] == "/error" and reason in reply[2], (message, reply)
    assert got[-1] == ["/pong"]  # answered in order, after every refusal
    assert len(engine.hits) == hits + 1 and engine.hits[-1].pad == 3 * 8 + 4  # and the good /pad played
    c = server.counters
    assert c.received == len(BAD) + 2 and c.handled == 2
    assert c.malformed + c.unknown + c.bad_arguments == len(BAD)


def test_a_huge_frame_closes_that_socket_with_1009_and_others_carry_on(engine, serve):
    server = serve()

    async def go():
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(ws_url(server)) as ws:
                await ws.receive(timeout=5)
                await ws.send_str(json.dumps({"address": "/latent", "args": [0.0] * (MAX_MESSAGE_BYTES // 4)}))
                while (frame := await ws.receive(timeout=5)).type == aiohttp.WSMsgType.TEXT:
                    pass
                return ws.close_code

    assert run(go()) == 1009
    assert wait_for(lambda: server.counters.too_big == 1, 10)
    assert run(exchange(ws_url(server), [{"address": "/ping"}], 1)) == [["/pong"]]
    assert wait_for(lambda: any("over 65536 bytes" in r for r in engine.reports), 10)


def test_a_flood_is_dropped_at_the_door_counted_and_reported(engine, serve):
    server = serve(max_messages_per_second=50)
    c = server.counters

    async def go():
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(ws_url(server)) as ws:
                await ws.receive(timeout=5)
                began = time.monotonic()
                for _ in range(500):
                    await ws.send_str('{"address": "/pad/off", "args": [1, 1]}')
                while c.received + c.flood_dropped < 500:
                    await asyncio.sleep(0.005)
                took = time.monotonic() - began
                await asyncio.sleep(1.1)  # a second's tokens come back
                await ws.send_str('{"address": "/ping"}')
                return took, await replies(ws, 1)

    took, answer = run(go())
    assert answer == [["/pong"]]
    # A full bucket (50) and what refilled while the flood lasted passed; the rest was dropped unread.
    assert c.received - 1 <= 50 + 50 * took + 1 and c.received + c.flood_dropped == 501
    assert c.handled == c.received and c.flood_dropped >= 500 - (51 + 50 * took)
    def reported() -> int:  # the drops may straddle two of the once-a-second reports
        return sum(int(n) for r in engine.reports for n in re.findall(r"(\d+) over the flood limit \(50 messages a second per browser\)", r))

    assert wait_for(lambda: reported() == c.flood_dropped, 10), list(engine.reports)[-3:]


def test_capture_is_limited_to_its_table_rate(engine, serve):
    server = serve(clock=HandClock())  # the four within one second of the limits' clock, however slow the machine
    engine.submit(make_command("/pad", [1, 1, 0.5]))  # something to capture
    got = run(exchange(ws_url(server), [{"address": "/capture"}] * 4, 4))
    assert [m[0] for m in got].count("/capture") == 2  # at most 2 a second (the table's per_second)
    assert sum(1 for m in got if m[0] == "/error" and "at most 2 a second" in m[2]) == 2
    assert server.counters.rate_limited == 2


def test_two_browsers_see_the_same_state(engine, serve):
    server = serve()

    async def go():
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(ws_url(server)) as a, session.ws_connect(ws_url(server)) as b:
                await a.receive(timeout=5), await b.receive(timeout=5)
                await a.send_str(json.dumps({"address": "/param", "args": ["variance", 0.25]}))
                seen = []
                while ["/param", "variance", 0.25] not in seen:
                    seen += json.loads((await b.receive(timeout=5)).data)
            async with session.ws_connect(ws_url(server)) as c:  # a newcomer gets the whole state at once
                return [m for m in json.loads((await c.receive(timeout=5)).data) if m[0] in ("/param", "/pad/description")]

    state = run(go())
    assert ["/param", "variance", 0.25] in state
    assert sum(1 for m in state if m[0] == "/pad/description") == 64
    engine.submit(make_command("/param", ["variance", 0.0]))


def test_wrong_origin_and_wrong_host_are_refused(engine, serve):
    server = serve()
    port = server.address[1]

    async def go():
        async with aiohttp.ClientSession() as session:
            refused = []
            for headers in ({"Origin": "http://evil.example"}, {"Origin": f"http://localhost:{port}"}, {"Host": f"evil.example:{port}"}):
                try:
                    async with session.ws_connect(ws_url(server), headers=headers):
                        refused.append(None)
                except aiohttp.WSServerHandshakeError as exc:
                    refused.append(exc.status)
            async with session.get(f"http://127.0.0.1:{port}/", headers={"Host": f"rebound.example:{port}"}) as response:
                page = response.status, await response.text()
            async with session.ws_connect(ws_url(server), headers={"Origin": f"http://127.0.0.1:{port}"}) as ws:
                same_origin = (await ws.receive(timeout=5)).type
            return refused, page, same_origin

    refused, page, same_origin = run(go())
    # localhost:PORT is another origin than 127.0.0.1:PORT (the Host this request names), so it is refused too.
    assert refused == [403, 403, 403]
    assert page[0] == 403 and "not this panel's address" in page[1]
    assert same_origin == aiohttp.WSMsgType.TEXT
    assert server.counters.not_allowed == 4


def test_off_loopback_every_request_needs_the_session_token(engine, serve):
    server = serve("0.0.0.0")
    port = server.address[1]
    assert server.token and f"?token={server.token}" in server.url
    base = f"http://127.0.0.1:{port}"

    async def go():
        out = {}
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:  # unsafe: cookies from an address literal, as browsers take them
            for name, path in (("page", "/"), ("script", "/static/app.js"), ("wrong", "/?token=nope")):
                async with session.get(base + path) as response:
                    out[name] = (response.status, await response.text())
            try:
                async with session.ws_connect(base + "/ws"):
                    out["socket"] = None
            except aiohttp.WSServerHandshakeError as exc:
                out["socket"] = exc.status
            async with session.get(f"{base}/?token={server.token}") as response:
                out["with token"] = response.status
            async with session.get(base + "/static/app.js") as response:  # the cookie the page set
                out["script after"] = response.status
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(f"{base}/ws?token={server.token}") as ws:
                out["socket with token"] = (await ws.receive(timeout=5)).type
        return out

    out = run(go())
    for name in ("page", "script"):
        assert out[name][0] == 403 and "needs the session token" in out[name][1], (name, out[name])
    # A wrong token (an address from an earlier session) is told from none
    assert out["wrong"][0] == 403 and "this session's token is not the one given" in out["wrong"][1], out["wrong"]
    assert out["socket"] == 403
    assert out["with token"] == 200 and out["script after"] == 200
    assert out["socket with token"] == aiohttp.WSMsgType.TEXT


@pytest.mark.parametrize("allow", [False, True])
def test_file_commands_from_another_machine_follow_the_loopback_rule(engine, serve, allow):
    address = lan_address()
    if is_loopback(address) or not address[0].isdigit():
        pytest.skip("this machine has no LAN address to connect from")
    server = serve("0.0.0.0", allow_writes_from_network=allow)
    url = f"http://{address}:{server.address[1]}/ws?token={server.token}"
    got = run(exchange(url, [{"address": "/state/save", "args": ["from-lan"]}, {"address": "/ping"}], 2))
    assert ["/pong"] in got  # file commands run on the writer thread: their reply may come after
    if allow:
        assert any(m[0] == "/state/save" and m[1].endswith("from-lan.json") for m in got), got
    else:
        assert ["/error", "/state/save", "only a browser on this machine may write files or switch patches "
                                         "(the patch's [web] allow_writes lets others)"] in got


def test_a_taken_port_is_one_clear_sentence(engine, serve):
    server = serve()
    from liveengine.errors import LiveEngineError

    with pytest.raises(LiveEngineError, match=f"cannot serve the web panel on 127.0.0.1:{server.address[1]}: .*Pick another port"):
        WebServer(engine, "127.0.0.1", server.address[1])
