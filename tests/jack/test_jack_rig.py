"""The test rig's own JACK parts (liveengine/testing/jack_rig.py): a capture runs no garbage collection while it
records; when a client makes the synchronous server wait, the server's own words (how long) are read back, until the
server stops and its messages file is closed, and a test failing meanwhile is told apart."""

from __future__ import annotations

import gc
import time


def holding_client(servername: str, name: str, seconds: float):
    """An inactive JACK client whose callback, once activated, sleeps `seconds` in its 20th cycle: the synchronous
    server waits for it, and jackd logs the hold-up ("JackTimedDriver::Process XRun = 700174 usec")."""
    import jack

    client = jack.Client(name, no_start_server=True, servername=servername)
    cycles = []

    def process(frames: int) -> None:
        cycles.append(frames)
        if len(cycles) == 20:
            time.sleep(seconds)

    client.set_process_callback(process)
    return client


def test_a_client_that_holds_up_the_server_shows_in_its_messages(jack_server):
    import os

    from liveengine.testing.jack_rig import _LOGS, server_lines, start_jackd, wait_for, xrun_usec

    # jack_server proves JACK runs here; the hold-up happens on a server of its own, so no later test's server has had
    # a 0.7 s cycle (on the shared one, the next test's notes were a period off: 39 onsets of 40).
    server = start_jackd(f"liveengine-late-{os.getpid()}")
    late = holding_client(server.name, "late-one", 0.7)
    late.activate()
    try:
        # jackd says how late the cycle was ("JackTimedDriver::Process XRun = 700174 usec"), not which client held it
        assert wait_for(lambda: any(xrun_usec(line) >= 600_000 for line in server_lines(server.name, ("XRun =",))), 10), \
            server_lines(server.name, ("",))[-10:]
    finally:
        late.deactivate()
        late.close()
        log = _LOGS[server.name].file
        server.stop()
    assert log.closed and server.name not in _LOGS and server_lines(server.name) == []  # its messages file closed with it


def test_a_capture_holds_the_garbage_collection_while_it_records_and_gives_it_back(jack_server):
    from liveengine.testing.jack_rig import Capture

    capture = Capture(jack_server.name, channels=1, seconds=1.0)
    try:
        assert gc.isenabled()
        capture.start()
        assert not gc.isenabled() and gc.get_freeze_count() > 0  # the heap as it was is left alone
        capture.start()  # started again before a stop: the collection still comes back after
        time.sleep(0.1)
        capture.stop()
        assert gc.isenabled() and gc.get_freeze_count() == 0
        capture.start()
    finally:
        capture.close()  # a capture closed while recording (a failed test) gives it back too
    assert gc.isenabled() and gc.get_freeze_count() == 0


def test_a_server_that_lets_no_client_in_fails_the_probe_in_time_with_its_messages(jack_server):
    """A wedged server holds a client's open for ever: the probe every JACK test opens first (wait_for_no_client) fails
    after its timeout, with the server's last messages, so a pass meeting one fails and says why rather than waiting
    out 300 s a test. Wedged here by stopping a server of its own (SIGSTOP); it serves again once continued."""
    import os
    import signal

    import pytest

    from liveengine.testing.jack_rig import open_probe, start_jackd

    server = start_jackd(f"liveengine-stopped-{os.getpid()}")
    try:
        open_probe(server.name).close()  # it lets clients in
        os.kill(server.process.pid, signal.SIGSTOP)
        with pytest.raises(AssertionError, match=f"JACK server 'liveengine-stopped-{os.getpid()}' let no client in for 2 s; its last messages:"):
            open_probe(server.name, timeout=2.0)
    finally:
        os.kill(server.process.pid, signal.SIGCONT)
        server.stop()


def test_a_failure_while_the_server_was_held_up_is_told_apart(jack_server):
    """A JACK test failing while its server was held up 100 ms or more fails as ServerStalled, its own failure the
    cause (scripts/test.sh runs it once more); one failing on a server that ran on fails as itself."""
    import os

    from liveengine.testing.jack_rig import ServerStalled, server_lines, stalled, start_jackd, wait_for, xrun_count, xrun_usec

    server = start_jackd(f"liveengine-held-{os.getpid()}")  # its own: no later test meets the hold-up
    late = holding_client(server.name, "held-one", 0.2)
    try:
        failure = AssertionError("an onset missing")
        mark = xrun_count(server.name)
        assert stalled(server.name, mark, failure) is None  # nothing held it yet
        late.activate()
        assert wait_for(lambda: any(xrun_usec(line) >= 150_000 for line in server_lines(server.name, ("XRun =",))), 10)
        told = stalled(server.name, mark, failure)
        assert isinstance(told, ServerStalled) and told.__cause__ is failure
        assert "held up 1 time(s)" in str(told) and "AssertionError: an onset missing" in str(told)
        assert stalled(server.name, xrun_count(server.name), failure) is None  # a failure after the hold-up is itself
    finally:
        late.deactivate()
        late.close()
        server.stop()


def suite_hook():
    """tests/conftest.py's pytest_runtest_call, and a stand-in for the pytest item it reads (it only carries the server
    and collects report sections), to drive the hook by hand as pytest drives a wrapper."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("suite_conftest", Path(__file__).resolve().parents[1] / "conftest.py")
    conftest = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(conftest)

    class Item:
        def __init__(self, server) -> None:
            self.funcargs, self.sections = {"jack_server": server}, []

        def add_report_section(self, when: str, key: str, content: str) -> None:
            self.sections.append((when, key, content))

    return conftest.pytest_runtest_call, Item


def throw_into(call, raised: BaseException) -> BaseException:
    """What the hook `call` (started: its code before the test has run) lets out when the test raises `raised`."""
    try:
        call.throw(raised)
    except BaseException as out:
        return out
    raise AssertionError("the hook swallowed the test's outcome")


def test_the_hook_tells_apart_a_pytest_fail_and_lets_a_skip_through(jack_server):
    """The hook (the JACK server real, the item a stand-in): a `pytest.fail` (a BaseException) during a hold-up fails as
    ServerStalled with the hold-ups in the report, and a skip goes through untouched."""
    import os

    import pytest

    from liveengine.testing.jack_rig import ServerStalled, server_lines, start_jackd, wait_for, xrun_usec

    hook, Item = suite_hook()
    server = start_jackd(f"liveengine-hook-{os.getpid()}")
    late = holding_client(server.name, "held-hook", 0.2)
    try:
        item = Item(server)
        call = hook(item)
        next(call)
        late.activate()
        assert wait_for(lambda: any(xrun_usec(line) >= 150_000 for line in server_lines(server.name, ("XRun =",))), 10)
        told = throw_into(call, pytest.fail.Exception("an onset missing"))
        assert isinstance(told, ServerStalled) and isinstance(told.__cause__, pytest.fail.Exception)
        assert item.sections and item.sections[0][1] == "jackd" and "usec" in item.sections[0][2]

        for outcome in (pytest.skip.Exception("no device"), pytest.fail.Exception("an onset missing")):
            call = hook(Item(server))
            next(call)
            assert throw_into(call, outcome) is outcome  # a skip is never a failure; a failure after the hold-up is itself
    finally:
        late.deactivate()
        late.close()
        server.stop()


def test_a_failure_after_the_stand_in_wrote_a_note_past_its_frame_is_told_apart(jack_server):
    """A note the stand-in controller could only write after its frame had passed (here: asked for one already past;
    in a run, the server skipped cycles or this process held the callback) makes a failing test a StandInLate, its own
    failure the cause, and the report says so; the same failure with every note on its frame is itself."""
    from liveengine.testing.jack_rig import PERIOD, RATE, wait_for
    from liveengine.testing.midi_rig import MidiTester, StandInLate

    hook, Item = suite_hook()
    tester = MidiTester(jack_server.name, client="late-stand-in", port="pads")
    try:
        call = hook(Item(jack_server))
        next(call)
        before = MidiTester.late_total
        tester.send_at(tester.frame_time() + RATE // 10, bytes([0x90, 60, 100]))  # 100 ms ahead: on its frame
        assert wait_for(lambda: tester.pending() == 0, 5)
        failure = AssertionError("an onset missing")
        told = throw_into(call, failure)
        # itself, unless this run's machine made the stand-in late even so (then told apart, as it should be)
        assert (told is failure) == (MidiTester.late_total == before), (told, tester.off_frame, tester.late_writes)

        item = Item(jack_server)
        call = hook(item)
        next(call)
        tester.send_at(tester.frame_time() - 20 * PERIOD, bytes([0x90, 62, 100]))  # its frame passed
        assert wait_for(lambda: tester.pending() == 0, 5)
        told = throw_into(call, failure)
        assert tester.off_frame >= 1 and isinstance(told, StandInLate) and told.__cause__ is failure
        assert "time(s) late while the test ran" in str(told) and "AssertionError: an onset missing" in str(told)
        assert "the stand-in controllers late" in item.sections[0][2] and "late 0 time(s)" not in item.sections[0][2]
    finally:
        tester.close()
