"""Run a call that may hang in a C library (closing an audio stream or a JACK client) for at most a while.

The call runs on a daemon thread; if it has not returned in time the caller goes on, and whatever
the call holds goes with the process. Errors are swallowed: this is for closing things, where the
process is about to move on anyway.
"""

from __future__ import annotations

import threading
from typing import Callable


def run_at_most(call: Callable[[], object], seconds: float, name: str = "liveengine-closer") -> bool:
    """True if `call` returned (or raised) within `seconds`."""
    thread = threading.Thread(target=_quietly, args=(call,), name=name, daemon=True)
    thread.start()
    thread.join(seconds)
    return not thread.is_alive()


def _quietly(call: Callable[[], object]) -> None:
    try:
        call()
    except Exception:  # noqa: BLE001 - closing: nothing left to report to
        pass
