"""A stream through the audio server on a real JACK server (dummy driver): a tone on the server's JACK input
(`liveengine:in_1`) comes out re-voiced at its pitch; a /stream/note sounds; the input's source going away
is counted silence while the grid plays on. The producer is its own process (forked from the fork server)."""

from __future__ import annotations

import os
import time

import numpy as np

from liveengine.audio.spec import DeviceSpec
from liveengine.commands import make_command
from liveengine.engine import Engine
from liveengine.patch import load_patch
from liveengine.stream.tracker import CausalTracker
from liveengine.testing.jack_rig import PERIOD, RATE, Capture, onsets, wait_for
from liveengine.testing.models import build_stream_model


class ToneSource:
    """A JACK client playing `signal` from JACK frame `start` on, into the ports it is connected to."""

    def __init__(self, servername: str, signal: np.ndarray) -> None:
        import jack

        self.client = jack.Client("tone-source", no_start_server=True, servername=servername)
        self.port = self.client.outports.register("out")
        self.signal = signal
        self.start = 1 << 62
        self.client.set_process_callback(self._process)
        self.client.activate()

    def _process(self, frames: int) -> None:
        out = self.port.get_array()
        at = self.client.last_frame_time - self.start
        out.fill(0.0)
        if 0 <= at + frames and at < len(self.signal):
            lo, hi = max(at, 0), min(at + frames, len(self.signal))
            out[lo - at : hi - at] = self.signal[lo:hi]

    def close(self) -> None:
        self.client.deactivate()
        self.client.close()


def _revoiced(engine, jack_server, tone: np.ndarray):
    """Play `tone` into the server's audio input; return (the onset lag in frames, the output after its onset, the source)."""
    source = ToneSource(jack_server.name, tone)
    inputs = source.client.get_ports("liveengine:", is_input=True, is_audio=True)
    assert len(inputs) == 1, inputs  # the server's one audio input
    source.client.connect(source.port, inputs[0])
    capture = Capture(jack_server.name, channels=2)
    try:
        capture.connect_from("liveengine")
        assert wait_for(lambda: engine.stream.counts.get("frames", 0) > 0, 20)  # the producer is up and voicing the input
        capture.start()
        source.start = capture.frame_time() + 8 * PERIOD
        assert capture.wait_for_frame(source.start + int(1.2 * RATE) - 8 * PERIOD)
        audio, first = capture.stop(every_cycle=False)
    finally:
        capture.close()
    out = audio[:, 0]
    heard = onsets(out, 1e-3)
    assert len(heard) == 1
    return first + int(heard[0]) - (source.start + RATE // 5), out[int(heard[0]) :], source


def _tone() -> np.ndarray:
    tone = np.zeros(RATE, np.float32)
    tone[RATE // 5 : RATE // 5 + RATE // 2] = 0.5 * np.sin(2 * np.pi * 262.0 * np.arange(RATE // 2) / RATE)
    return tone


def _patch(short_patch, tmp_path):
    voice = build_stream_model(tmp_path / "voice")
    return load_patch(short_patch(extra_engine='render_in = "thread"',
                                  extra=f'[stream]\nmodel = "{voice}"\ninput = "audio"\nmix = 1.0\nattack_ms = 5.0\nrelease_ms = 30.0\n'))


def test_an_input_tone_comes_out_revoiced_a_note_sounds_and_a_lost_input_is_counted_silence(jack_server, short_patch, tmp_path):
    engine = Engine(_patch(short_patch, tmp_path))
    assert engine.wait_rendered(timeout=60)
    source = capture = None
    try:
        engine.start(DeviceSpec.jack(RATE, PERIOD, 2, audio_in=True, audio_in_port=""))
        lag, out, source = _revoiced(engine, jack_server, _tone())
        hop = engine.stream.info.hop(RATE)
        # never before the lead (a hop, a block, a block of slack: the producer places it there); later only
        # if the busy machine held the producer up at the onset
        assert engine.stream.counts["lead"] <= lag <= 3 * hop + 3 * PERIOD
        f0 = CausalTracker(RATE, hop).push(out[4800 : RATE // 2 - 4800])[0]
        assert abs(1200 * np.log2(np.median(f0) / 262.0)) < 20  # re-voiced at the input's pitch

        silent_before = engine.stream.counts["silent_frames"]
        source.close()  # the input's source goes away: silence in, counted, nothing stops
        source = None
        # counted before the input moves to notes (a producer the busy machine holds up counts it later, not never)
        assert wait_for(lambda: engine.stream.counts["silent_frames"] > silent_before, 10)
        engine.submit(make_command("/stream/input", ("notes",)))
        capture = Capture(jack_server.name, channels=2)
        capture.connect_from("liveengine")
        capture.start()
        time.sleep(0.1)
        engine.submit(make_command("/stream/note", (69, 1.0)))
        assert capture.wait_for_more(int(0.3 * RATE))  # the note's length and the gaps in JACK's frames, as the engine hears them
        engine.submit(make_command("/stream/off", ()))
        assert capture.wait_for_more(int(0.5 * RATE))
        engine.submit(make_command("/pad", (0, 0, 1.0)))  # the grid plays on
        assert capture.wait_for_more(int(0.3 * RATE))
        audio, _ = capture.stop(every_cycle=False)
        # the note, then the pad (a producer the busy machine holds up makes a short faded gap in the note, not an onset)
        assert len(onsets(audio[:, 0], 1e-3, min_gap=RATE // 5)) == 2
        assert engine.hits[-1].pad == 0
        status = engine.status()
        assert status["callback_errors"] == 0 and status["stream_restarts"] == 0
        # The producer stays below the audio callback: here (a non-real-time JACK server, as root) the callback
        # is SCHED_FIFO 40 and the producer 10; where real-time is not allowed, nice -5 under the server's -10.
        expected = "SCHED_FIFO 10" if status["server_scheduling"] == "SCHED_FIFO 40" else "nice -5"
        assert wait_for(lambda: engine.status().get("stream_priority") == expected, 5), engine.status().get("stream_priority")
        if expected.startswith("SCHED_FIFO"):
            assert os.sched_getscheduler(engine.stream.pid) == os.SCHED_FIFO and os.sched_getparam(engine.stream.pid).sched_priority == 10
    finally:
        for client in (source, capture):
            if client is not None:
                client.close()
        engine.stop()


def test_the_portaudio_server_revoices_its_duplex_input(jack_server, short_patch, tmp_path):
    """PortAudio through its JACK host API: a duplex stream, the device's first input into the same input ring."""
    engine = Engine(_patch(short_patch, tmp_path))
    assert engine.wait_rendered(timeout=60)
    source = None
    try:
        engine.start(DeviceSpec.portaudio("JACK", RATE, PERIOD, 2, audio_in=True))
        assert "audio input 1" in engine.server.description
        lag, out, source = _revoiced(engine, jack_server, _tone())
        hop = engine.stream.info.hop(RATE)
        assert 0 <= lag <= 3 * hop + 4 * PERIOD  # PortAudio may add a period of its own
        f0 = CausalTracker(RATE, hop).push(out[4800 : RATE // 2 - 4800])[0]
        assert abs(1200 * np.log2(np.median(f0) / 262.0)) < 20
    finally:
        if source is not None:
            source.close()
        engine.stop()
