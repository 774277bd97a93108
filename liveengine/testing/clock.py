"""A clock the test moves by hand, for the servers' rate limits and timetags (the `clock` of OscServer and
WebServer, OscServer's `wall`) and the sample pool's grace period (SamplePool's `clock`): how many messages pass a
limit, how far ahead a timetag is, or whether a slot is free again, then depends on what the test did, not on how fast
a loaded machine happens to run it."""

from __future__ import annotations


class HandClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now
