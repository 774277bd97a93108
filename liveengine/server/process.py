"""The audio server process: the stream and the real-time core, alone with the interpreter.

Started by the control process as `python -m liveengine.server` with the shared
segment's descriptor passed on. It reads two JSON lines on stdin: the layout and options (it
maps the segment and warms up), then the device and its start frame (or the dead predecessor's
last block to continue from); it opens the device, answers one JSON line on stdout (ready, or
the error), then parks its main thread in a blocking read of stdin: the audio callback is the
only Python code that runs while it plays. `play` starts one ahead, while the grid renders.
Garbage collection is off. It imports numpy, the real-time core and the one
audio library its device needs; no decoder, no resampler, no control code.

It ends when stdin closes: the control process stopped it, or died (only the
control process holds the pipe's other end, so its death closes it at once). No
parent-death signal: Linux sends it when the *thread* that started the process
ends, and servers are restarted from the supervisor thread.
A lost device stalls its heartbeat; the control process then kills it and
starts another, rather than asking PortAudio or JACK to recover in place.
"""

from __future__ import annotations

import gc
import json
import os
import sys
import time

from liveengine.at_most import run_at_most


def _answer(message: dict) -> bool:
    """One JSON line to the control process; False if it is gone (killed while the device opened)."""
    try:
        sys.stdout.write(json.dumps(message) + "\n")
        sys.stdout.flush()
    except OSError:  # a broken pipe: nobody will ever read this, nor stop us
        return False
    return True


def warm_up(options) -> None:
    """Run every path of the callback on a scratch core before the stream starts.

    A fresh interpreter's first calls are slow (cffi binds the atomics on first use, numpy's
    first call of each ufunc and reduction): a first callback of 12 ms was seen to knock a
    synchronous JACK server's graph out ("SuspendRefNum error") until the server was killed.
    """
    import numpy as np

    from liveengine.rt.core import GAIN, PANIC, START, STREAM
    from liveengine.server.fifo import FifoWriter
    from liveengine.server.layout import Layout, Record, SharedState
    from liveengine.server.stream import StreamWriter

    scratch = SharedState.create(Layout(fifo_capacity=16, slots=2, slot_frames=4096, record_frames=4096,
                                        channels=options.channels, timing_history=64, stream_frames=4096,
                                        events_capacity=16, midi_out_capacity=16, midi_out_ring_bytes=64), label="warm-up")
    from liveengine.rt.core import RealtimeCore

    core = RealtimeCore(options, scratch)
    scratch.samples[0, :4096] = np.linspace(1.0, 0.0, 4096, dtype=np.float32)
    scratch.slot_len[0], scratch.slot_gen[0] = 4096, 1
    fifo = FifoWriter(scratch)
    fifo.put(Record(0, gen=1, kind=START, slot=0, gain=0.5, choke=0, pad=0))
    fifo.put(Record(3 * options.blocksize, gen=1, kind=START, slot=0, gain=0.5, pad=1))
    fifo.put(Record(2 * options.blocksize, kind=STREAM, value=0.5))
    StreamWriter(scratch).write(np.zeros(4096, np.float32))
    fifo.put(Record(5 * options.blocksize, kind=GAIN, value=0.5))
    fifo.put(Record(9 * options.blocksize, kind=PANIC))
    out = np.zeros((options.blocksize, options.channels), np.float32)
    core.midi_in(0, 7, bytes([0xF0, 1, 0x90, 60, 100, 0xF8]))  # the MIDI parser's paths, into the event FIFO
    core.audio_in(out[:, 0])
    for block in range(12):
        core.process(out, options.blocksize, block * options.blocksize / options.samplerate)
    from liveengine.rt.midi_out import MidiOutQueue

    midi_out = MidiOutQueue(scratch)  # the MIDI-out path too (rt/midi_out.py), short and long messages
    scratch.midi_out_ring[60:64] = scratch.midi_out_ring[:4] = (0xF0, 0x7D, 0x01, 0xF7)
    warm_fifo = FifoWriter(scratch, "midi_out")
    warm_fifo.put((3, 0, 0, 0, 3, 0x90, 36, 100, 0))
    warm_fifo.put((-1, 1, 60, 1, 8, 0, 0, 0, 0))  # a long message across the ring's end
    warm_fifo.put((3 * options.blocksize, 2, 68, 1, 4, 0, 0, 0, 0))  # one that waits a cycle

    class Sink:
        @staticmethod
        def write_midi(*message):
            return True

        @staticmethod
        def write_sysex(port, offset, ring, at, size):
            head = min(size, len(ring) - at)
            return len(bytes(ring[at : at + head])) + len(bytes(ring[: size - head])) == size

        @staticmethod
        def cycle_dropped():
            return False

        @staticmethod
        def connections(port):
            return 0  # counted as unheard, in the scratch memory: that path is warm too

    for block in range(4):
        midi_out.write_block(block * options.blocksize, options.blocksize, Sink)
    del core, fifo, midi_out
    scratch.close()


AUDIO_NICE = -10  # as PulseAudio's -11: above every normal process, below the real-time classes


def raise_priority() -> int:
    """Before the stream opens (its callback thread inherits it): a nice value above every normal process,
    where the system allows it (root, or an `audio` group with a nice limit, as Debian's jackd2 sets up).
    On a non-real-time JACK server or PortAudio device the callback then wins the CPU from everything
    the instrument and the machine run at normal priority; on a real-time one JACK's own scheduling
    class rules and this changes nothing. Returns the nice value the server runs at."""
    try:
        os.setpriority(os.PRIO_PROCESS, 0, AUDIO_NICE)
    except (AttributeError, OSError):
        pass  # not allowed here: the server runs at normal priority, and /status says so
    try:
        return os.getpriority(os.PRIO_PROCESS, 0)
    except (AttributeError, OSError):
        return 0


AUDIO_FIFO = 40  # above the stream producer's 10, below JACK's own threads (60 and up) and the kernel's interrupt threads (50)


def raise_callback(core, nice: int, wait: float = 0.5) -> tuple[str, int]:
    """The callback thread's scheduling, said for `play` and /status. Where the audio system left it at
    normal priority (a non-real-time JACK server, a PortAudio device) and the system allows it, it is
    made SCHED_FIFO at AUDIO_FIFO, as PortAudio's ALSA host and PipeWire's clients (through rtkit) do for
    theirs: then no process of normal priority (the render process, a browser) can hold up the callback
    mid-block. A thread the audio system made real-time is left as it is. Runs on the server's main thread
    once the first block has run (the callback says which thread it is), never on the callback. Returns the
    description and the callback's SCHED_FIFO priority (0: none)."""
    deadline = time.monotonic() + wait
    while not core.thread_id and time.monotonic() < deadline:
        time.sleep(0.005)
    thread = core.thread_id
    normal = f"nice {nice}"
    if not thread:
        return normal, 0  # no block yet: left as it is
    try:
        if os.sched_getscheduler(thread) in (os.SCHED_FIFO, os.SCHED_RR):
            fifo = os.sched_getparam(thread).sched_priority
            return f"SCHED_FIFO {fifo} (the audio system's)", fifo
        os.sched_setscheduler(thread, os.SCHED_FIFO, os.sched_param(AUDIO_FIFO))
        return f"SCHED_FIFO {AUDIO_FIFO}", AUDIO_FIFO
    except (AttributeError, OSError):
        return normal, 0  # not on this system, or not allowed: the nice value stays


def main() -> None:
    # Imported before the configuration is read: a server the control process starts ahead (a standby,
    # while the grid renders) has its interpreter and imports done by the time it is needed. The audio
    # library itself waits for the device (sounddevice starts PortAudio, a JACK client, when imported).
    from liveengine.audio.spec import DeviceSpec
    from liveengine.errors import LiveEngineError
    from liveengine.options import EngineOptions
    from liveengine.rt.core import RealtimeCore
    from liveengine.server.layout import Layout, SharedState

    # Two lines: the shared memory and options (sent as soon as the process starts: it maps the memory,
    # raises its priority and warms up meanwhile), then the device and where its clock starts.
    line = sys.stdin.readline()
    if not line:
        return
    memory = json.loads(line)
    options = EngineOptions(**{k: tuple(v) if isinstance(v, list) else v for k, v in memory["options"].items()})
    state = SharedState.attach(memory["fd"], Layout(**memory["layout"]), populate=True)
    nice = raise_priority()
    warm_up(options)
    line = sys.stdin.readline()
    if not line:
        return
    config = json.loads(line)
    state.counters[state.counter_index["pid"]] = os.getpid()
    resume = config.get("resume")
    core = RealtimeCore(options, state, start_frame=config["start_frame"], resume=tuple(resume) if resume else None)
    spec = DeviceSpec(**config["device"])
    backend = None
    try:
        backend = spec.create()
        if spec.midi_in:
            backend.midi = core.midi_in
        if spec.midi_out or spec.midi_in:  # the groove's notes, the controllers' LEDs
            from liveengine.rt.midi_out import MidiOutQueue

            midi_out = MidiOutQueue(state)
            backend.midi_writer = lambda frames, sink: midi_out.write_block(core.frame - frames, frames, sink)  # after the block
        if spec.audio_in:
            backend.audio_in = core.audio_in
        backend.start(core.process)
    except Exception as exc:  # noqa: BLE001 - whatever the audio library raised, the control process says it
        if backend is not None:
            # Close what was opened: a JACK client that just vanishes stalls the JACK server.
            _stop(backend)
        if isinstance(exc, LiveEngineError):
            _answer({"error": exc.message, "fix": exc.fix})
        else:
            _answer({"error": f"{type(exc).__name__}: {exc}", "fix": ""})
        os._exit(3)
    scheduling, fifo = raise_callback(core, nice)
    state.counters[state.counter_index["callback_fifo"]] = fifo  # a stream producer (stream/producer.py) stays below it
    gc.collect()
    gc.freeze()
    gc.disable()  # nothing here makes cycles; a collection would stall the callback
    answered = _answer({"ok": True, "pid": os.getpid(), "nice": nice, "scheduling": scheduling, "description": backend.description, "samplerate": backend.samplerate,
                       "blocksize": backend.blocksize, "output_latency": backend.output_latency})
    if answered:
        sys.stdin.buffer.read()  # parked until the control process closes the pipe (or dies)
    _stop(backend)
    os._exit(0)


def _stop(backend) -> None:
    """Stop the stream and close the device, but never hang on it: a host API that does not
    return (PortAudio after a JACK restart) is left behind when the process exits."""
    run_at_most(backend.stop, 2.0, "liveengine-stream-stop")
