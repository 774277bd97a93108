"""A clock the test moves by hand, for the servers' rate limits and timetags (the `clock` of OscServer and
WebServer, OscServer's `wall`): how many messages pass a limit, or how far ahead a timetag is, then depends on what the
test sent, not on how fast a loaded machine happens to send and read it."""

from __future__ import annotations


class HandClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now
