"""Notes the audio server starts by itself from the control process's note table, and when it must not."""

from __future__ import annotations

import numpy as np

from liveengine.options import EngineOptions
from liveengine.rt.core import RealtimeCore
from liveengine.server.fifo import FifoReader
from liveengine.server.layout import Layout, SharedState

BLOCK = 128


def _rig():
    options = EngineOptions(samplerate=48000, blocksize=BLOCK, master_gain=1.0, velocity_curve=1.0)
    state = SharedState.create(Layout(fifo_capacity=64, slots=4, slot_frames=1024, record_frames=8192, channels=2,
                                      timing_history=64, stream_frames=1024, events_capacity=64), label="test")
    state.samples[2, :500] = np.linspace(1.0, 0.0, 500, dtype=np.float32)
    state.slot_len[2], state.slot_gen[2], state.slot_onset[2] = 500, 7, 0
    return state, RealtimeCore(options, state)


def _block(core) -> np.ndarray:
    out = np.zeros((BLOCK, 2), np.float32)
    core.process(out, BLOCK, core.frame / 48000)
    return out[:, 0].copy()


def test_a_note_in_the_table_starts_one_period_after_its_frame_and_a_stale_entry_is_left_to_the_control_process():
    state, core = _rig()
    state.note_pads[1, 60] = 5 | (0 << 16)  # pad 5, no choke group
    state.note_slots[1, 60] = (7 << 16) | 2
    state.note_channels[1] = 0xFFFF  # every channel plays pads
    state.note_table_seq.store(1)
    core.midi_in(1, 40, bytes([0x90, 60, 64]))  # 40 frames into the block about to be computed
    first, second = _block(core), _block(core)
    assert np.all(first == 0.0)
    np.testing.assert_array_equal(second[:40], 0.0)  # exactly one period after its frame
    gain = 64 / 127  # the velocity curve (1 here)
    np.testing.assert_allclose(second[40:BLOCK], gain * state.samples[2, : BLOCK - 40], rtol=1e-6)
    assert state.pad_voices[5] == 1
    # The slot was refilled since the entry was made (a new generation): the server must not play it.
    state.slot_gen[2] = 8
    core.midi_in(1, 0, bytes([0x90, 60, 100]))
    core.midi_in(0, 0, bytes([0x90, 61, 100]))  # and a note with no entry at all
    events: list = []
    FifoReader(state, "events").drain(events, 10)
    assert [(e[3], e[6], e[8]) for e in events] == [(1, 60, 1.0), (1, 60, 0.0), (0, 61, 0.0)]  # played by the server, or not
