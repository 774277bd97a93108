"""The OSC server over real UDP sockets: replies, every kind of bad input, floods, timetags."""

from __future__ import annotations

import re
import socket
import time

import pytest
from pythonosc.osc_bundle_builder import IMMEDIATELY
from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import OscMessageBuilder

from liveengine.control.osc.server import OscServer, address_table_markdown, build_bundle, build_message
from liveengine.testing.clock import HandClock
from liveengine.testing.server import queued_records
from liveengine.engine import Engine
from liveengine.errors import LiveEngineError
from liveengine.patch import load_patch
from liveengine.rt.core import START

REPO_DOCS = __import__("pathlib").Path(__file__).resolve().parents[2] / "docs" / "osc.md"


@pytest.fixture
def hand_clock():
    return HandClock()


@pytest.fixture
def hand_wall():
    return HandClock(time.time())


@pytest.fixture
def served(short_patch, tmp_path, hand_clock, hand_wall):
    engine = Engine(load_patch(short_patch(extra_engine='render_in = "thread"')))
    assert engine.wait_rendered(timeout=60)
    server = OscServer(engine, "127.0.0.1", 0, recordings_dir=tmp_path, max_messages_per_second=2000, clock=hand_clock,
                       wall=hand_wall)
    server.start()
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    client.bind(("127.0.0.1", 0))
    client.settimeout(10.0)
    yield engine, server, client
    client.close()
    server.stop()
    engine.stop()


def send_all(client, server, data: bytes, count: int) -> None:
    """Send `count` copies as fast as the server reads them: 50 at a time, each batch read (passed
    or dropped by the limit) before the next, so the kernel's receive buffer never overflows."""
    def seen() -> int:
        return server.counters.received + server.counters.flood_dropped
    start = seen()
    for sent in range(0, count, 50):
        for _ in range(min(50, count - sent)):
            client.sendto(data, server.address)
        deadline = time.monotonic() + 10
        while seen() - start < min(sent + 50, count):
            assert time.monotonic() < deadline, f"the server read {seen() - start} of {min(sent + 50, count)} within 10 s"
            time.sleep(0.001)


def ask(client, server, data: bytes) -> OscMessage:
    client.sendto(data, server.address)
    reply, _ = client.recvfrom(65536)
    return OscMessage(reply)


def queued_events(engine) -> list:
    return queued_records(engine)


def test_docs_osc_md_is_generated_from_the_table():
    assert REPO_DOCS.read_text() == address_table_markdown(), "run: python -m liveengine.control.osc.docs"


def test_ping_status_and_a_pad_hit_reach_the_engine(served):
    engine, server, client = served
    assert ask(client, server, build_message("/ping")).address == "/pong"
    status = ask(client, server, build_message("/status"))
    assert status.address == "/status" and status.params[-3:-1] == [64, 64]
    assert 10 < status.params[-1] < 4000  # memory_mb: PSS of this test process at least
    client.sendto(build_message("/pad", 3, 4, 0.5), server.address)
    deadline = time.monotonic() + 2
    while not engine.fifo.pending():
        assert time.monotonic() < deadline
        time.sleep(0.01)
    (event,) = queued_events(engine)
    assert event[2] == START and event[6] == engine.instrument.setting.pad_index(3, 4)
    assert event[3] == engine.instrument.cache.get(engine.instrument.setting.pad_index(3, 4)).slot


@pytest.mark.parametrize("data, address, reason", [
    (build_message("/nope", 1), "/nope", "unknown address"),
    (build_message("/pad", 3), "/pad", "expected: /pad row col [velocity]"),
    (build_message("/pad", "a", 2), "/pad", "expected an integer from 0 to 15"),
    (build_message("/pad", 3, 4, 7.0), "/pad", "velocity"),
    (build_message("/pad", 12, 4), "/pad", "outside the 8x8 grid"),
    (build_message("/param", "warp", 1.0), "/param", "allowed: one of gain"),
    (build_message("/param", "gain", 9.0), "/param", "out of range"),
    (build_message("/patch", "../etc/passwd"), "/patch", "letters, digits"),
    (b"/pad\x00\x00\x00\x00,ii\x00\x00\x00\x00\x03", "?", "malformed"),
    (b"\xff\xfe\xfd\x00,s\x00\x00\xc3\x28\x00\x00", "?", "malformed"),
    (b"#bundle\x00\x00\x00", "?", "malformed"),
])
def test_bad_input_is_answered_with_an_error_and_counted(served, data, address, reason):
    engine, server, client = served
    reply = ask(client, server, data)
    assert reply.address == "/error"
    assert reply.params[0] == address and reason in reply.params[1], reply.params
    assert engine.fifo.dropped == 0 and engine.fifo.pending() == 0
    assert ask(client, server, build_message("/ping")).address == "/pong"  # still serving


def test_bundles_become_engine_frames_and_out_of_range_timetags_are_rejected(served, hand_wall):
    engine, server, client = served
    rate = engine.options.samplerate
    when = hand_wall.now + 0.5  # the server reads the same Unix time: exactly half a second ahead
    before = engine.now_frame()
    client.sendto(build_bundle(when, ("/pad", 1, 0, 1.0), ("/pad", 1, 1, 1.0)), server.address)
    events, deadline = [], time.monotonic() + 10
    while len(events) < 2 and time.monotonic() < deadline:
        events += queued_events(engine)  # taking them off the FIFO
        time.sleep(0.01)
    assert len(events) == 2
    expected = before + 0.5 * rate  # the engine is not started: its frame stands still
    for event in events:  # frame of the buffer's start = target - onset (the record carries the onset)
        target = event[0] + event[7]
        assert abs(target - expected) <= 1
    assert events[0][0] == events[1][0] - (events[1][7] - events[0][7])  # one bundle, one time
    reply = ask(client, server, build_bundle(hand_wall.now + 60, ("/panic",)))
    assert reply.address == "/error" and reply.params[0] == "#bundle" and "ahead" in reply.params[1]
    reply = ask(client, server, build_bundle(hand_wall.now - 5, ("/panic",)))
    assert reply.address == "/error" and "in the past" in reply.params[1]
    client.sendto(build_bundle(IMMEDIATELY, ("/panic",)), server.address)
    assert ask(client, server, build_message("/ping")).address == "/pong"
    assert server.counters.too_far_ahead == 1 and server.counters.late_bundles == 1


def test_large_datagrams_are_read_whole(served):
    engine, server, client = served
    message = OscMessageBuilder("/choke")
    message.add_arg("x" * 20000)  # python-osc's own server drops anything over 8,192 bytes silently
    reply = ask(client, server, message.build().dgram)
    assert reply.address == "/error" and "is not in the patch" in reply.params[1]


def test_a_flood_is_dropped_and_counted_without_blocking(served, hand_clock):
    engine, server, client = served
    send_all(client, server, build_message("/pad/off", 1, 1), 6000)  # three times the per-second allowance within one second
    assert server.counters.received == 2000 and server.counters.flood_dropped == 4000
    send_all(client, server, build_message("/ping"), 1)  # still within the same second: dropped
    assert server.counters.flood_dropped == 4001
    hand_clock.now += 0.01  # a hundredth of a second later: 20 messages' worth of allowance back
    # The engine is not started here, so its queue fills and the rest of the 2,000 were refused with /error
    # replies, more than this socket's receive buffer holds (the kernel drops the rest): read those away so the
    # pong finds room, and skip any the server was still sending.
    client.settimeout(0.5)
    try:
        while True:
            assert OscMessage(client.recvfrom(65536)[0]).params[0] == "/pad/off"
    except TimeoutError:
        pass
    client.settimeout(10.0)
    client.sendto(build_message("/ping"), server.address)
    while (reply := OscMessage(client.recvfrom(65536)[0])).address != "/pong":
        assert reply.address == "/error" and reply.params[0] == "/pad/off", reply.params
    assert server.counters.flood_dropped == 4001 and server.counters.received == 2001


def test_subscribe_sends_status_and_reports(served):
    engine, server, client = served
    listener = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    listener.bind(("127.0.0.1", 0))
    listener.settimeout(3.0)
    port = listener.getsockname()[1]
    try:
        client.sendto(build_message("/subscribe", port), server.address)
        assert OscMessage(listener.recvfrom(65536)[0]).address == "/subscribed"
        engine.report("hello from the engine")
        seen = set()
        deadline = time.monotonic() + 4
        while {"/status", "/report"} - seen and time.monotonic() < deadline:
            seen.add(OscMessage(listener.recvfrom(65536)[0]).address)
        assert {"/status", "/report"} <= seen
    finally:
        listener.close()


def test_record_start_and_stop_over_osc_write_a_file(served, tmp_path):
    engine, server, client = served
    reply = ask(client, server, build_message("/record/start", "take1"))
    assert reply.address == "/record/start" and reply.params[0].endswith("take1.wav")
    reply = ask(client, server, build_message("/record/start", "take1"))
    assert reply.address == "/error"  # one recording at a time, and never over a file
    assert ask(client, server, build_message("/record/stop")).address == "/record/stop"
    assert (tmp_path / "take1.wav").exists()
    again = ask(client, server, build_message("/record/start", "take1"))
    assert again.address == "/error" and "already exists" in again.params[1]


def test_patch_by_name_and_a_failed_patch_keeps_playing(served):
    engine, server, client = served
    client.settimeout(60.0)  # the reply comes once the drum model is loaded, probed and its grid rendered
    reply = ask(client, server, build_message("/patch", "default"))
    assert reply.params == ["default", "ok"]
    reply = ask(client, server, build_message("/patch", "no-such-patch"))
    assert reply.address == "/error" and "not found" in reply.params[1]


def test_listening_beyond_loopback_needs_an_allow_list(served):
    engine = served[0]
    with pytest.raises(LiveEngineError, match="allowed"):
        OscServer(engine, "0.0.0.0", 0)


def test_a_port_in_use_is_one_clear_error(served):
    engine, server, client = served
    with pytest.raises(LiveEngineError, match=f"cannot listen for OSC on 127.0.0.1:{server.address[1]}.*--osc-port"):
        OscServer(engine, "127.0.0.1", server.address[1])


@pytest.mark.parametrize("host, said", [("8.8.8.8", "8.8.8.8 is not an address of this machine (Cannot assign requested address)."),
                                        ("no-such-host.invalid", "the host 'no-such-host.invalid' does not resolve to an IPv4 address")])
def test_a_host_that_is_not_this_machines_names_the_host_not_the_port(served, host, said):
    engine = served[0]
    with pytest.raises(LiveEngineError) as caught:
        OscServer(engine, host, 0, allow=("127.0.0.1",))
    assert caught.value.message.startswith(f"cannot listen for OSC on {host}:0: {said}"), caught.value.message
    assert caught.value.fix.startswith("Pass --osc-host an IPv4 address of this machine: 127.0.0.1") and "--osc-port" not in str(caught.value)


def test_grid_addresses_over_udp_capture_and_state(served, tmp_path, monkeypatch):
    monkeypatch.setenv("LIVEENGINE_LIBRARY", str(tmp_path / "library"))
    monkeypatch.setenv("LIVEENGINE_STATE", str(tmp_path / "state"))
    engine, server, client = served
    assert ask(client, server, build_message("/capture")).params == ["/capture", "nothing has been played yet: capture keeps the sound heard last."]
    client.sendto(build_message("/pad", 1, 1, 0.9), server.address)
    client.sendto(build_message("/param", "zoom", 2.0), server.address)
    client.sendto(build_message("/xy", 0.5, 0.25, 0.8), server.address)
    deadline = time.monotonic() + 5
    while engine.last_heard is None or engine.last_heard.kind not in ("exact", "fallback"):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert engine.instrument.setting.zoom == 2.0
    reply = ask(client, server, build_message("/capture"))
    assert reply.address == "/capture" and (tmp_path / "library").is_dir() and reply.params[0].endswith(".wav")
    reply = ask(client, server, build_message("/state/save", "set-1"))
    assert reply.params == [str(tmp_path / "state" / "set-1.json")]
    assert ask(client, server, build_message("/state/save", "../x")).params[0] == "/state/save"
    reply = ask(client, server, build_message("/mapping", "corners"))
    assert reply.address == "/error" and "four anchors" in reply.params[1]
    reply = ask(client, server, build_message("/latent", 0.1, 0.2))
    assert reply.address == "/error" and "latent points have 8" in reply.params[1]


def test_subscribers_get_pad_descriptions_playing_pads_progress_and_levels(served):
    engine, server, client = served
    listener = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    listener.bind(("127.0.0.1", 0))
    listener.settimeout(3.0)
    from liveengine.audio.offline import OfflineBackend

    backend = OfflineBackend(48000, 128, 2)
    engine.start(backend)
    try:
        client.sendto(build_message("/subscribe", listener.getsockname()[1]), server.address)
        described, got = {}, {}
        deadline = time.monotonic() + 5
        while (len(described) < 64 or {"/progress", "/level"} - set(got)) and time.monotonic() < deadline:
            message = OscMessage(listener.recvfrom(65536)[0])
            got.setdefault(message.address, message.params)
            if message.address == "/pad/description":
                described[tuple(message.params[:2])] = message.params
        assert len(described) == 64 and got["/progress"] == [64, 64]
        row, col = 3, 5
        d = engine.instrument.cache.get(engine.instrument.setting.pad_index(row, col)).description
        params = described[(row, col)]
        assert params[2] == "" and params[4] == pytest.approx(d.loudness_db, abs=1e-3) and tuple(params[6:9]) == d.color
        engine.submit(make_command_pad(row, col))
        backend.run(256)
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            message = OscMessage(listener.recvfrom(65536)[0])
            if message.address == "/pad/playing":
                assert message.params == [row, col, 1]
                break
        else:
            raise AssertionError("no /pad/playing")
        backend.run(48000)  # the 50 ms sound ends
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            message = OscMessage(listener.recvfrom(65536)[0])
            if message.address == "/pad/playing":
                assert message.params == [row, col, 0]
                break
        else:
            raise AssertionError("no /pad/playing off")
    finally:
        listener.close()


def make_command_pad(row, col):
    from liveengine.commands import make_command

    return make_command("/pad", [row, col, 1.0])


# ---- issue 15: hostile clients never stall, deafen or silence the server ----

def listen() -> socket.socket:
    listener = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    listener.bind(("127.0.0.1", 0))
    listener.settimeout(4.0)
    return listener


def wait_for(listener, address: str, text: str = "") -> OscMessage:
    """The first message to `address` (whose first argument holds `text`) that reaches the listener within 5 s."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        message = OscMessage(listener.recvfrom(65536)[0])
        if message.address == address and text in str(message.params[:1]):
            return message
    raise AssertionError(f"no {address} {text} came")


def raw(address: str, tags: str, payload: bytes = b"") -> bytes:
    """An OSC message with any type tags, as a hostile or exotic client sends it."""
    from pythonosc.parsing import osc_types

    return osc_types.write_string(address) + osc_types.write_string("," + tags) + payload


def ints(*values: int) -> bytes:
    return b"".join(v.to_bytes(4, "big", signed=True) for v in values)


@pytest.mark.parametrize("data, reason", [
    (raw("/capture", "ZQX"), "type tag 'Z'"),  # python-osc skipped the tags: a capture was written
    (raw("/pad", "Zii", ints(7, 7)), "type tag 'Z'"),  # ... and the pad played
    (raw("/pad", "Tii", ints(7, 7)), "type tag 'T'"),
    (raw("/pad", "si", b"3\x00\x00\x00" + ints(4)), "argument 'row' has type tag 's'"),
    (raw("/ping", "i", ints(5)), "argument 1 (type tag 'i') is one too many"),
])
def test_unknown_wrong_and_extra_type_tags_are_refused_by_name_and_nothing_is_logged(served, caplog, data, reason):
    engine, server, client = served
    with caplog.at_level("DEBUG"):
        reply = ask(client, server, data)
    assert reply.address == "/error" and reason in reply.params[1], reply.params
    assert engine.fifo.pending() == 0 and server.counters.bad_arguments == 1
    assert not caplog.records, [r.getMessage() for r in caplog.records]  # python-osc logged a warning per packet


def test_pd_floats_and_S_strings_are_read_like_ints_and_strings(served):
    engine, server, client = served
    client.sendto(raw("/pad", "ffd", b"".join(__import__("struct").pack(">f", v) for v in (3.0, 4.0)) + __import__("struct").pack(">d", 0.5)),
                  server.address)
    reply = ask(client, server, raw("/choke", "S", b"hats\x00\x00\x00\x00"))
    assert reply.address == "/error" and "'hats' is not in the patch" in reply.params[1]  # read as text, checked by the engine
    (event,) = queued_events(engine)
    assert event[6] == engine.instrument.setting.pad_index(3, 4)


def test_a_subscription_belongs_to_the_sender_that_made_it(served):
    engine, server, client = served
    other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # a second client on the same host
    other.bind(("127.0.0.1", 0))
    other.settimeout(10.0)
    listener = listen()
    try:
        client.sendto(build_message("/subscribe", listener.getsockname()[1]), server.address)
        wait_for(listener, "/subscribed")
        assert ask(other, server, build_message("/ping")).address == "/pong"  # was sent to the subscribed port
        client.sendto(build_message("/ping"), server.address)  # the Max device and the Pd panel: send here, listen there
        wait_for(listener, "/pong")
        client.sendto(build_message("/pad", 99, 0), server.address)
        assert wait_for(listener, "/error").params[0] == "/pad"
        other.sendto(build_message("/nope"), server.address)
        assert OscMessage(other.recvfrom(65536)[0]).params[0] == "/nope"
        other.sendto(build_message("/unsubscribe", listener.getsockname()[1]), server.address)
        assert OscMessage(other.recvfrom(65536)[0]).address == "/unsubscribed"
        assert list(server.subscribers) == [client.getsockname()]  # another client cannot end it
        assert ask(client, server, build_message("/unsubscribe")).address == "/unsubscribed"  # the sender can
        assert not server.subscribers
    finally:
        other.close()
        listener.close()


def test_subscribers_are_a_bounded_set(served):
    from liveengine.control.osc.server import MAX_SUBSCRIBERS

    engine, server, client = served
    clients = [listen() for _ in range(MAX_SUBSCRIBERS + 2)]
    try:
        for c in clients:
            c.sendto(build_message("/subscribe"), server.address)
        answers = [wait_for(c, "/subscribed") if i < MAX_SUBSCRIBERS else wait_for(c, "/error") for i, c in enumerate(clients)]
        assert all(f"{MAX_SUBSCRIBERS} clients are subscribed already" in a.params[1] for a in answers[MAX_SUBSCRIBERS:])
        assert len(server.subscribers) == MAX_SUBSCRIBERS
        clients[0].sendto(build_message("/unsubscribe"), server.address)
        wait_for(clients[0], "/unsubscribed")
        clients[-1].sendto(build_message("/subscribe"), server.address)
        wait_for(clients[-1], "/subscribed")
    finally:
        for c in clients:
            c.close()


def test_replies_to_one_datagram_are_bounded_and_the_rest_counted(served):
    from liveengine.control.osc.server import MAX_REPLIES

    engine, server, client = served
    client.sendto(build_bundle(IMMEDIATELY, *[("/ping",)] * 200), server.address)
    client.sendto(build_message("/status"), server.address)
    replies = []
    while not replies or replies[-1] != "/status":
        replies.append(OscMessage(client.recvfrom(65536)[0]).address)
    assert replies.count("/pong") == MAX_REPLIES and server.counters.replies_dropped == 200 - MAX_REPLIES


def test_captures_are_rate_limited(served, tmp_path, monkeypatch):
    monkeypatch.setenv("LIVEENGINE_LIBRARY", str(tmp_path / "library"))
    engine, server, client = served
    for _ in range(20):  # all within one second of the rate limits' clock
        client.sendto(build_message("/capture"), server.address)
    reasons = [OscMessage(client.recvfrom(65536)[0]).params[1] for _ in range(20)]
    limited = [r for r in reasons if "at most 2 a second" in r]
    assert len(limited) == 18 and server.counters.rate_limited == 18


def test_a_slow_patch_load_leaves_the_receive_thread_free(served):
    engine, server, client = served
    client.sendto(build_message("/patch", "default"), server.address)  # loads an ONNX model and renders its grid
    client.sendto(build_message("/ping"), server.address)
    first = OscMessage(client.recvfrom(65536)[0])
    assert first.address == "/pong"  # answered while the patch loads
    client.settimeout(60.0)  # the load's reply comes once the drum model is loaded, probed and its grid rendered
    assert OscMessage(client.recvfrom(65536)[0]).params == ["default", "ok"]


def test_flood_drops_are_reported(served):
    engine, server, client = served
    listener = listen()
    try:
        # The listener subscribes itself: the reports come to it, while the /error replies to the flood's refused
        # commands go back to the client (a subscriber's replies would fill the listener's receive buffer unread).
        listener.sendto(build_message("/subscribe", listener.getsockname()[1]), server.address)
        wait_for(listener, "/subscribed")
        send_all(client, server, build_message("/pad/off", 1, 1), 6000)  # three times the per-second allowance
        assert server.counters.flood_dropped == 4001  # the /subscribe took one of the second's 2,000
        report = wait_for(listener, "/report", "over the flood limit")  # said to subscribers
        assert report.params[0].startswith("OSC lost ") and "over the flood limit (2000 messages a second per client)" in report.params[0]

        def reported() -> int:  # every loss said once, over as many once-a-second reports as the flood lasted
            return sum(int(n) for r in list(engine.reports) for n in re.findall(r"OSC lost (\d+) over the flood limit", r))

        deadline = time.monotonic() + 10
        while reported() < 4001 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert reported() == 4001, list(engine.reports)[-5:]
    finally:
        listener.close()


@pytest.mark.skipif(not __import__("os").path.exists("/proc/net/udp"), reason="the OS does not publish UDP drops (Linux does)")
def test_kernel_receive_buffer_drops_are_read_from_the_os_and_reported(short_patch, tmp_path):
    engine = Engine(load_patch(short_patch(extra_engine='render_in = "thread"')))
    server = OscServer(engine, "127.0.0.1", 0, recordings_dir=tmp_path)
    sender, listener = listen(), listen()
    try:
        big = build_message("/choke", "x" * 60000)
        for _ in range(300):  # 18 MB into a receive buffer of at most 4 MB that nobody reads yet
            sender.sendto(big, server.address)
        server.start()
        sender.sendto(build_message("/subscribe", listener.getsockname()[1]), server.address)
        report = wait_for(listener, "/report", "dropped by the kernel")
        assert server.counters.kernel_dropped >= 200 and f"{server.counters.kernel_dropped} dropped by the kernel" in report.params[0]
    finally:
        sender.close()
        listener.close()
        server.stop()
        engine.stop()


def nested(message: bytes, levels: int) -> bytes:
    """`message` in `levels` bundles, each the next one's only element, timed 'immediately'."""
    import struct

    for _ in range(levels):
        message = b"#bundle\0" + struct.pack(">Q", 1) + struct.pack(">i", len(message)) + message
    return message


def test_bundles_nested_past_the_limit_are_refused_and_the_server_listens_on(served):
    """A /ping in 1,000 bundles (16 KB) once ended the OSC thread with a RecursionError: the show went on deaf to OSC,
    with no word. Past MAX_BUNDLE_DEPTH it is one /error, counted; within it, the message is played."""
    from liveengine.control.osc.wire import MAX_BUNDLE_DEPTH

    engine, server, client = served
    ping = build_message("/ping")
    assert ask(client, server, nested(ping, MAX_BUNDLE_DEPTH)).address == "/pong"
    for levels in (MAX_BUNDLE_DEPTH + 1, 1000, 3000):
        reply = ask(client, server, nested(ping, levels))
        assert reply.address == "/error" and reply.params == ["?", f"malformed OSC packet (bundles nested deeper than {MAX_BUNDLE_DEPTH})"]
    assert server.counters.malformed == 3
    assert ask(client, server, ping).address == "/pong"


def test_a_datagram_whose_handling_fails_is_counted_and_reported_and_the_server_listens_on(served, monkeypatch):
    """A bug in handling one datagram (here a stand-in handler that raises for the first) must not end the OSC thread."""
    engine, server, client = served
    reports = []
    monkeypatch.setattr(engine, "report", reports.append)
    real = server.handle_datagram
    calls = []

    def failing_once(data, sender):
        calls.append(data)
        if len(calls) == 1:
            raise RuntimeError("a bug")
        real(data, sender)

    monkeypatch.setattr(server, "handle_datagram", failing_once)
    client.sendto(build_message("/ping"), server.address)
    assert ask(client, server, build_message("/ping")).address == "/pong"
    assert server.counters.failed == 1 and reports == ["OSC: a datagram from 127.0.0.1 failed (RuntimeError); still listening"]
