"""The test rig's own JACK parts (liveengine/testing/jack_rig.py): a capture runs no garbage collection while it
records, and when a client makes the synchronous server wait, the server's own words (how long) are read back, until
the server stops and its messages file is closed."""

from __future__ import annotations

import gc
import time


def test_a_client_that_holds_up_the_server_shows_in_its_messages(jack_server):
    import os

    import jack

    from liveengine.testing.jack_rig import _LOGS, server_lines, start_jackd, wait_for, xrun_usec

    # jack_server proves JACK runs here; the hold-up happens on a server of its own, so no later test's server has had
    # a 0.7 s cycle (on the shared one, the next test's notes were a period off: 39 onsets of 40).
    server = start_jackd(f"liveengine-late-{os.getpid()}")
    late = jack.Client("late-one", no_start_server=True, servername=server.name)
    cycles = []

    def process(frames: int) -> None:
        cycles.append(frames)
        if len(cycles) == 20:
            time.sleep(0.7)  # once: the synchronous server waits for it

    late.set_process_callback(process)
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


def test_the_rig_s_clients_run_on_while_this_process_holds_the_interpreter_lock(jack_server):
    """The capture's and the stand-in controller's clients run in processes of their own, so a test process whose
    interpreter lock is held (here 0.8 s of Python with no thread switch allowed; in the suite, the engine's threads
    and a test's own work) stops neither them nor, on the synchronous server, the whole cycle: the capture's callbacks
    go on through the hold and it misses no cycle. When either callback ran in this process, none ran during the hold
    and jackd logged the cycle 0.8 s late."""
    import sys

    import numpy as np

    from liveengine.testing.jack_rig import PERIOD, RATE, Capture
    from liveengine.testing.midi_rig import MidiTester

    capture = Capture(jack_server.name, channels=1, seconds=3.0)
    controller = MidiTester(jack_server.name, client="held-stand-in", port="pads")
    interval = sys.getswitchinterval()
    try:
        capture.start()
        assert capture.wait_for_more(RATE // 10)
        sys.setswitchinterval(10.0)
        try:
            held = time.perf_counter()
            while time.perf_counter() < held + 0.8:
                pass
            released = time.perf_counter()
        finally:
            sys.setswitchinterval(interval)
        assert capture.wait_for_more(RATE // 10)
        capture.stop()  # asserts no cycle was missed
        assert capture.count * PERIOD == capture.frames
        during = np.count_nonzero((capture.entered[: capture.count] > held + 0.1) & (capture.entered[: capture.count] < released - 0.1))
        assert during > 0, "no capture callback ran while this process held its interpreter lock"
    finally:
        controller.close()
        capture.close()


def test_a_rig_client_that_cannot_start_or_dies_says_so_with_its_own_words(jack_server):
    """The rig's children fail loudly: on a server that is not there at once, with libjack's error; a capture whose
    process died while recording fails the wait instead of handing back a short recording."""
    import os
    import signal

    import pytest

    from liveengine.testing.jack_rig import RATE, Capture, start_jackd
    from liveengine.testing.midi_rig import MidiTester

    for make, what in ((lambda: Capture("liveengine-no-such-server"), "capture client"),
                       (lambda: MidiTester("liveengine-no-such-server"), "stand-in controller 'LPMiniMK3'")):
        with pytest.raises(AssertionError, match=f"the {what} on JACK server 'liveengine-no-such-server' did not start .*JackOpenError: Error initializing"):
            make()
    # The kill on a server of its own: a client killed mid-cycle holds a synchronous server's cycle about 5 s.
    server = start_jackd(f"liveengine-kill-{os.getpid()}")
    try:
        capture = Capture(server.name, channels=1, seconds=2.0)
        try:
            capture.start()
            os.kill(capture._child.process.pid, signal.SIGKILL)
            with pytest.raises(AssertionError, match="the capture client .* ended while recording"):
                capture.wait_for_frame(capture.frame_time() + RATE)
        finally:
            capture.close()
    finally:
        server.stop()


def test_a_failure_while_the_server_was_held_up_is_told_apart(jack_server):
    """A JACK test failing while its server was held up 100 ms or more fails as ServerStalled, its own failure the
    cause (scripts/test.sh runs it once more); one failing on a server that ran on fails as itself."""
    import os

    import jack

    from liveengine.testing.jack_rig import ServerStalled, server_lines, stalled, start_jackd, wait_for, xrun_count, xrun_usec

    server = start_jackd(f"liveengine-held-{os.getpid()}")  # its own: no later test meets the hold-up
    late = jack.Client("held-one", no_start_server=True, servername=server.name)
    cycles = []

    def process(frames: int) -> None:
        cycles.append(frames)
        if len(cycles) == 20:
            time.sleep(0.2)  # once: the synchronous server waits for it

    try:
        failure = AssertionError("an onset missing")
        mark = xrun_count(server.name)
        assert stalled(server.name, mark, failure) is None  # nothing held it yet
        late.set_process_callback(process)
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
