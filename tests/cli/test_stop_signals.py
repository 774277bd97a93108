"""`liveengine play`'s Ctrl-C and SIGTERM (cli._StopSignals), real signals sent to this process: before the play loop
they interrupt what runs (a load, a render) and leave the stop flag set, so that an interrupt some library swallows
still stops the loop at its first check; in the loop they only set the flag; the handlers before are put back."""

from __future__ import annotations

import os
import signal
import time

import pytest

from liveengine.cli import _StopSignals


def _sleep_through_the_signal() -> None:
    time.sleep(2.0)  # the handler runs in the main thread at the next bytecode: a sleep is cut short by it


def test_a_signal_before_the_loop_interrupts_and_one_in_the_loop_only_asks_it_to_stop():
    before = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}
    for number in (signal.SIGINT, signal.SIGTERM):
        with _StopSignals() as signals:
            assert not signals.stop.is_set()
            with pytest.raises(KeyboardInterrupt):
                os.kill(os.getpid(), number)
                _sleep_through_the_signal()
            assert signals.stop.is_set()
            signals.stop.clear()
            signals.playing = True
            os.kill(os.getpid(), number)  # no exception now: the loop sees the flag and stops in its own time
            assert signals.stop.wait(2.0)
        assert {n: signal.getsignal(n) for n in before} == before


def test_an_interrupt_swallowed_before_the_loop_still_stops_the_loop():
    with _StopSignals() as signals:
        try:
            os.kill(os.getpid(), signal.SIGINT)
            _sleep_through_the_signal()
        except KeyboardInterrupt:
            pass  # as a library catching every exception would
        signals.playing = True
        assert signals.stop.is_set()  # `while not stop.wait(0.02)` ends before its first pass
