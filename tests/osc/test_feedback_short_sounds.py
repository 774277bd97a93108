"""Feedback of pads playing: a sound that starts and ends between two polls (shorter than a feedback tick)
still lights its pad for one poll (the audio server counts starts per pad)."""

from __future__ import annotations

from liveengine.commands import make_command
from liveengine.control.feedback import FeedbackSource


def playing(messages: list[tuple]) -> list[tuple]:
    return [m[1:] for m in messages if m[0] == "/pad/playing"]


def test_a_sound_shorter_than_a_tick_still_lights_its_pad_once(engines, short_patch):
    engine, backend = engines(short_patch(extra_engine='render_in = "thread"'))
    assert engine.wait_rendered(timeout=60)
    feedback = FeedbackSource(engine)
    feedback.poll()
    assert engine.submit(make_command("/pad", [2, 3, 1.0]))
    backend.run(48000 // 2)  # the 50 ms sound starts and ends before the next poll
    assert not engine.playing_pads()
    assert playing(feedback.poll()) == [(2, 3, 1)]  # lit though it no longer sounds
    assert playing(feedback.poll()) == [(2, 3, 0)]  # and out at the next poll
    assert playing(feedback.poll()) == []
