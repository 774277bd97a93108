"""Run by test_midi_restart.py in its own process (libjack keeps per-process state of the server it
talked to, so one process must not outlive its server's restart as a client that needs cycles).

This child owns a JACK server, plays the engine with its MIDI read in the audio server, kills the JACK
server, starts it again, and prints what happened as JSON. The controller is a stand-in Launchpad Mini
MK3 (by its port names) run in a process of its own for each life of the JACK server (`controller`
mode): it waits until liveengine has connected it to one of the audio server's MIDI inputs, says when,
plays one note, and keeps every LED message it received and when it had a colour for every pad.

Every wait here is a liveness bound (LIVENESS seconds, more where a whole audio server has to start on a
busy machine), never a measure: how long each thing took is returned, and the test prints it.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time

from liveengine.testing.jack_rig import PERIOD, RATE, start_jackd, wait_for


LED_SYSEX = bytes([0xF0, 0x00, 0x20, 0x29, 0x02, 0x0D, 0x03])  # the Launchpad's lighting SysEx, colour specs follow
PADS = {10 * (r + 1) + c + 1 for r in range(8) for c in range(8)}  # its programmer-mode notes 11..88
WHITE = [127, 127, 127]  # a pad while it sounds
LIVENESS = 10.0  # seconds: what a step may take at most on a busy machine before the test calls it lost


def led_state(messages: list[bytes]) -> dict[int, list[int]]:
    """note -> [r, g, b] (0..127) as the Launchpad would show it after these messages (lighting SysEx only)."""
    state: dict[int, list[int]] = {}
    for data in messages:
        if data.startswith(LED_SYSEX) and data.endswith(b"\xf7"):
            body = data[len(LED_SYSEX) : -1]
            for i in range(0, len(body) - 4, 5):
                state[body[i + 1]] = list(body[i + 2 : i + 5])
    return state


MODE_ON = bytes([0xF0, 0x00, 0x20, 0x29, 0x02, 0x0D, 0x0E, 0x01, 0xF7])  # programmer mode: the profile's setup


def shown_after_setup(messages: list[bytes]) -> bool:
    """Whether the last programmer-mode switch among `messages` was followed by a colour for every pad."""
    from liveengine.testing.midi_rig import drawn_after_setup

    return drawn_after_setup(messages, MODE_ON, PADS)


def controller(name: str) -> None:
    from liveengine.testing.midi_rig import MidiTester

    tester = MidiTester(name)  # named like a Launchpad Mini MK3: its profile drives LEDs by SysEx
    try:
        connected = wait_for(lambda: any(p.name.startswith("liveengine:midi_in_")
                                         for p in tester.client.get_all_connections(tester.out)), LIVENESS)
        at = time.monotonic()
        leds_at = None
        if connected:
            def pad_11() -> list[int] | None:
                return led_state([m for _, m in list(tester.received)]).get(11)

            # liveengine connected us; it registers the controller and publishes its note table to the audio
            # server a moment later (a note before that plays through the control process instead). Ready as a
            # Launchpad is: in programmer mode, then a colour for every pad.
            if wait_for(lambda: shown_after_setup([m for _, m in list(tester.received)]), LIVENESS):
                leds_at = time.monotonic()
            colour = pad_11()
            time.sleep(max(0.0, at + 0.5 - time.monotonic()))
            tester.send_at(tester.frame_time() + 2 * PERIOD, bytes([0x90, 11, 100]))  # programmer mode: note 11 = pad (0, 0)
            # The pad lights white while it sounds (if an LED frame, 25 a second, falls within its 50 ms), and its
            # colour comes back with a frame after the sound ends; a frame JACK lost is drawn again (rt/midi_out.py).
            wait_for(lambda: pad_11() == WHITE, 1.0)
            wait_for(lambda: pad_11() == colour, LIVENESS)
        # late_writes: written in a cycle this process's callback ended late, which JACK may have passed on to nobody
        # (the stand-in's loss, not liveengine's): a note not handled says whether that was it.
        print(json.dumps({"connected": connected, "connected_at": at, "leds_at": leds_at, "written": len(tester.written),
                          "late_writes": tester.late_writes, "late_reads": tester.late_reads,
                          "received": [m.hex() for _, m in tester.received]}), flush=True)
    finally:
        tester.close()


def stay(name: str) -> None:
    """A controller that stays while the audio server alone is replaced: says "ready" once it shows the whole
    LED state, then waits for liveengine to draw it all again (programmer mode, then every pad) and says when."""
    from liveengine.testing.midi_rig import MidiTester

    tester = MidiTester(name)
    try:
        ready = wait_for(lambda: PADS <= set(led_state([m for _, m in list(tester.received)])), LIVENESS)
        first = len(tester.received)
        print(json.dumps({"ready": ready}), flush=True)
        sys.stdin.readline()  # the audio server has been killed

        def redrawn() -> bool:
            return shown_after_setup([m for _, m in list(tester.received)[first:]])

        redrawn_at = time.monotonic() if wait_for(redrawn, 30) else None  # the new audio server may take a while on a busy machine
        print(json.dumps({"redrawn_at": redrawn_at, "late_reads": tester.late_reads,
                          "received": [m.hex() for _, m in tester.received[first:]]}), flush=True)
    finally:
        tester.close()


def play_one_note(name: str) -> dict:
    try:
        done = subprocess.run([sys.executable, __file__, "controller", name], capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired as exc:  # its stacks, dumped before the timeout (below), say where it hung
        stderr = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else (exc.stderr or "")
        stdout = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        # Whether it had said what it received (then it hung closing its JACK client) or not; the whole dump, which
        # the test prints on failure (pytest shortens an assertion's message).
        said = "printed its result, then hung closing" if stdout.strip() else "hung before printing its result"
        return {"connected": False, "error": f"the stand-in controller {said}: {stderr}"}
    if done.returncode != 0:
        return {"connected": False, "error": done.stderr[-1000:]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(patch_path: str, name: str) -> dict:
    from liveengine.audio.spec import DeviceSpec
    from liveengine.control.midi.feedback import pad_colours
    from liveengine.control.midi.input import MidiInput
    from liveengine.control.midi.profiles import load_profiles
    from liveengine.control.midi.mapping import MidiSettings
    from liveengine.engine import Engine
    from liveengine.patch import load_patch

    os.environ["JACK_DEFAULT_SERVER"] = name  # the patch bay's JACK client finds this server
    result: dict = {}
    server = start_jackd(name, synchronous=False)
    reports: list[str] = []

    def report(message: str) -> None:  # to stderr as well: shown when the test fails
        reports.append(message)
        print(f"{time.monotonic():.3f} report: {message}", file=sys.stderr, flush=True)

    patch = load_patch(patch_path)
    engine = Engine(patch, on_report=report)
    midi = MidiInput(engine, MidiSettings.from_patch(patch), api="jack", server=True, report=report)
    try:
        engine.wait_rendered(timeout=60)
        midi.prepare()
        engine.start(DeviceSpec.jack(RATE, PERIOD, 2, servername=name, midi_in=True))
        midi.start()
        result["before"] = play_one_note(name)
        result["handled_before"] = wait_for(lambda: midi.counters.handled == 1, LIVENESS)
        result["server_started_before"] = midi.counters.server_started
        result["counters_before"] = dataclasses.asdict(midi.counters)  # a note not handled: received, dropped, or not read
        server.stop()
        result["noticed_loss"] = wait_for(lambda: engine.device_lost, 10)
        server = start_jackd(name, clear_registry=False, synchronous=False)
        back_at = time.monotonic()
        result["jack_back_at"] = back_at
        result["audio_back"] = wait_for(lambda: not engine.device_lost, 30)
        result["after"] = after = play_one_note(name)
        if after.get("connected"):
            result["seconds_connected_after_jack_returned"] = after["connected_at"] - back_at
        result["handled_after"] = wait_for(lambda: midi.counters.handled == 2, LIVENESS)
        result["server_started_after"] = midi.counters.server_started
        result["counters_after"] = dataclasses.asdict(midi.counters)
        result["hits"] = [h.pad for h in engine.hits]
        # The audio server alone is replaced (SIGKILL) while the controller stays: its LED output is new, so
        # the patch bay connects it again and the LED thread draws the whole state again.
        staying = subprocess.Popen([sys.executable, __file__, "stay", name], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        result["stay_ready"] = json.loads(staying.stdout.readline())["ready"]
        restarts = engine.server.restarts
        os.kill(engine.server.pid, signal.SIGKILL)
        staying.stdin.write("killed\n")
        staying.stdin.flush()
        result["server_back"] = wait_for(lambda: engine.server.restarts > restarts, 20)
        server_back_at = time.monotonic()
        result["stay"] = json.loads(staying.communicate(timeout=30)[0].strip().splitlines()[-1])
        if result["stay"]["redrawn_at"] is not None:
            result["seconds_redrawn_after_server_back"] = result["stay"]["redrawn_at"] - server_back_at
        # The LED state liveengine shows with no pad sounding (the stand-in has gone, and its device with it).
        launchpad = load_profiles()["launchpad-mini-mk3"]
        colours = pad_colours(launchpad, engine.grid_shape(), engine.pad_descriptions(), set(), engine.render_progress())
        result["leds_sent"] = {str(note): [v >> 1 for v in rgb] for note, rgb in colours.items()}
        result["led_redraws"] = midi.counters.led_redraws
        result["midi_out_unheard"] = engine.shared.counter("midi_out_unheard")  # what JACK delivered to nobody, drawn again
    finally:
        midi.close()
        engine.stop()
        server.stop()
    result["reports"] = reports
    return result


if __name__ == "__main__":
    if sys.argv[1] in ("controller", "stay"):
        import faulthandler

        # A controller is hardware that is never late; this stand-in is a process beside busy ones, whose late
        # callbacks lose what it reads and writes (late_reads, late_writes). It runs at the audio server's priority
        # (server/process.py AUDIO_NICE) where it may, so what the test sees lost is liveengine's to lose.
        from liveengine.server.process import AUDIO_NICE

        try:
            os.setpriority(os.PRIO_PROCESS, 0, AUDIO_NICE)  # before its JACK client starts: that thread inherits it
        except OSError:  # not permitted here: it runs as it is, and says its late reads and writes
            pass

        faulthandler.dump_traceback_later(50)  # every thread's stack on stderr, before its parent's timeout kills it
    if sys.argv[1] == "controller":
        controller(sys.argv[2])
    elif sys.argv[1] == "stay":
        stay(sys.argv[2])
    else:
        print(json.dumps(main(sys.argv[1], sys.argv[2])))
