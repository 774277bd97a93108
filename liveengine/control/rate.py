"""The one rate limiter every input uses: a token bucket per source (an OSC client, a MIDI port).

A flood is dropped and counted at the door, never queued: the engine and the audio
server see at most `rate` messages a second from one source, with bursts up to `rate`.
"""

from __future__ import annotations


class TokenBucket:
    def __init__(self, rate: float, now: float) -> None:
        self.rate = float(rate)
        self.tokens = float(rate)  # a full second's worth to begin with
        self.refilled = now

    def take(self, now: float) -> bool:
        """True if one message may pass at time `now` (seconds, monotonic); False: drop it."""
        if now < self.refilled:  # a clock that went back (frames read before the bucket was made): no refill, no debt
            self.refilled = now
        self.tokens = min(self.rate, self.tokens + (now - self.refilled) * self.rate)
        self.refilled = now
        if self.tokens < 1.0:
            return False
        self.tokens -= 1.0
        return True
