"""The between-pad renderer warms its decoder up on its own thread (the grid renders meanwhile): before
that it declines hits (the nearest pad plays), after it it renders them; a warm-up that fails is
reported and never leaves a waiter hanging."""

from __future__ import annotations

import threading

import numpy as np

from liveengine.decoders.test_synth import TestSynthDecoder as Synth
from liveengine.render.on_demand import OnDemandRenderer


class Gated(Synth):
    """Decodes only once the gate opens; fails instead while `fail` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.fail = False

    def decode_into(self, z, out):
        self.gate.wait(30)
        if self.fail:
            raise RuntimeError("broken decoder")
        super().decode_into(z, out)


def test_hits_are_declined_until_the_warm_up_is_timed_then_rendered():
    decoder = Gated()
    played: list = []
    # A deadline far above a render's time: the first timed render includes the wait for the gate.
    renderer = OnDemandRenderer(decoder, 48000, 1.0, 30.0, lambda buffer, payload: played.append((buffer, payload)))
    try:
        point = np.zeros(decoder.latent_dim, np.float32)
        assert not renderer.wait_ready(0.2), "the warm-up runs on the renderer's thread, not in the constructor"
        assert renderer.predicted == float("inf")
        assert not renderer.request(point, "early"), "before the warm-up a hit cannot be promised in time"
        decoder.gate.set()
        assert renderer.wait_ready(30)
        assert len(renderer.seconds) == 3 and 0 < renderer.predicted < 30.0
        assert renderer.request(point + 0.1, "hit")
        buffer = renderer.render_wait(point + 0.2, 30)
        assert buffer is not None and buffer.peak > 0
        assert played and played[0][1] == "hit" and played[0][0] is not None
    finally:
        decoder.gate.set()
        renderer.stop()


def test_a_warm_up_that_fails_is_reported_and_the_renderer_still_answers():
    decoder = Gated()
    decoder.fail = True
    decoder.gate.set()
    errors: list = []
    renderer = OnDemandRenderer(decoder, 48000, 1.0, 0.5, lambda buffer, payload: None, on_error=errors.append)
    try:
        assert renderer.wait_ready(30)
        assert renderer.errors >= 1 and any("broken decoder" in str(e) for e in errors)
        assert not renderer.request(np.zeros(decoder.latent_dim, np.float32), "hit"), "a warm-up that failed times nothing: no promise"
        assert renderer.render_wait(np.zeros(decoder.latent_dim, np.float32), 30) is None  # a failed render, said, not a hang
    finally:
        renderer.stop()


def test_a_model_on_trial_is_not_warmed_up_until_it_passes_and_a_refused_one_never():
    class Counting(Synth):
        decoded = 0

        def decode_into(self, z, out):
            Counting.decoded += len(z)
            super().decode_into(z, out)

    waiting = OnDemandRenderer(Counting(), 48000, 1.0, 30.0, lambda buffer, payload: None, warm_up=False)
    assert not waiting.wait_ready(0.3) and Counting.decoded == 0, "nothing decoded before warm_up()"
    waiting.warm_up()
    assert waiting.wait_ready(30) and Counting.decoded == 3
    waiting.stop()
    refused = OnDemandRenderer(Counting(), 48000, 1.0, 30.0, lambda buffer, payload: None, warm_up=False)
    refused.stop()  # the model failed its trial
    assert refused.wait_ready(5) and not refused._thread.is_alive() and Counting.decoded == 3, "never warmed up"
