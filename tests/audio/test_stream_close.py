"""Quitting never hangs on a host API that does not return from closing its stream.

A stand-in stream object (mock: a real PortAudio hang needs a stalled JACK server, which
cannot be produced on demand) whose stop() blocks until released.
"""

from __future__ import annotations

import threading
import time

from liveengine.audio.sounddevice_backend import SoundDeviceBackend


class HangingStream:
    active = True

    def __init__(self) -> None:
        self.release = threading.Event()
        self.closed = False

    def stop(self) -> None:
        self.release.wait(30)

    def close(self) -> None:
        self.closed = True


def test_stop_gives_up_on_a_stream_that_never_closes():
    backend = SoundDeviceBackend.__new__(SoundDeviceBackend)
    backend._stopping, backend.close_abandoned = False, False
    backend.STOP_TIMEOUT = 0.3
    backend._stream = stream = HangingStream()
    began = time.monotonic()
    backend.stop()
    assert time.monotonic() - began < 5
    assert backend.close_abandoned and not stream.closed and backend._stream is None
    stream.release.set()  # if the host API returns after all, the close completes behind us
    deadline = time.monotonic() + 5
    while not stream.closed:
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_stop_closes_a_well_behaved_stream():
    backend = SoundDeviceBackend.__new__(SoundDeviceBackend)
    backend._stopping, backend.close_abandoned = False, False
    backend._stream = stream = HangingStream()
    stream.release.set()
    backend.stop()
    assert stream.closed and not backend.close_abandoned
