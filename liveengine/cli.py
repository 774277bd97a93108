"""The `liveengine` command: play, devices, render, check.

Errors are one sentence plus the fix; a traceback only with --debug.
"""

from __future__ import annotations

import argparse
import dataclasses
import signal
import sys
import threading
import time
from pathlib import Path

from liveengine import __version__
from liveengine.cli_support import (ArgumentParser, Progress, blocksize_type, load_patch_arg, patch_with_model, port_type, samplerate_type, say,
                                    seconds_type, state_name_type, tail_seconds_type, told)
from liveengine.errors import LiveEngineError

MAX_RENDER_SECONDS = 600.0  # a score's typo (`99999 /pad ...`) must not fill the disk unasked
FILE_FADE_S = 0.05  # a rendered file still sounding at its end fades over this (the engine's own fade for sounds)
LONG_RENDER_SECONDS = 60.0  # renders longer than this report progress in logs too, not only on a terminal


def _web_port(text: str) -> int:
    try:
        return port_type(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a TCP port; allowed: 1 to 65535") from None


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(prog="liveengine", description="Play a neural decoder's latent space from a grid of pads.")
    parser.add_argument("--version", action="version", version=f"liveengine {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    # --debug is accepted after the command too (`liveengine render ... --debug`).
    debug = argparse.ArgumentParser(add_help=False)
    debug.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks")

    play = commands.add_parser("play", parents=[debug], help="open the audio device and play a patch")
    play.add_argument("patch", nargs="?", help="a .toml patch file or a shipped patch name (default: the default patch)")
    play.add_argument("--model", metavar="DIR", help="play this model folder (e.g. one `liveengine train` wrote) with the patch's settings")
    play.add_argument("--device", help="output device name (or part of it) or index; see `liveengine devices`")
    play.add_argument("--samplerate", type=samplerate_type, help="44100, 48000 or 96000")
    play.add_argument("--blocksize", type=blocksize_type, help="frames per block, 32 to 1024")
    play.add_argument("--record", metavar="FILE.wav", help="record exactly what goes to the device, from the moment it opens")
    play.add_argument("--force", action="store_true", help="allow --record to replace an existing file")
    play.add_argument("--seconds", type=seconds_type, help="play for this long, then exit cleanly")
    what = play.add_mutually_exclusive_group()  # one score plays: the usage line says [--score FILE | --demo]
    what.add_argument("--score", metavar="FILE", help="play a score file live")
    what.add_argument("--demo", action="store_true", help="loop the patch's demo score")
    play.add_argument("--osc-port", type=port_type, default=9000, help="UDP port for OSC control (default 9000)")
    play.add_argument("--osc-host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; others need --osc-allow)")
    play.add_argument("--osc-allow", action="append", default=[], metavar="ADDRESS", help="a client address allowed to send OSC (repeatable)")
    play.add_argument("--no-osc", action="store_true", help="do not listen for OSC")
    play.add_argument("--web", nargs="?", const=0, type=_web_port, metavar="PORT",
                      help="serve the web panel (default port 8765, or the patch's [web] port) and print its address")
    play.add_argument("--web-host", metavar="ADDRESS", help="address the panel listens on (default 127.0.0.1; 0.0.0.0 for a phone on the LAN: needs the printed token)")
    play.add_argument("--keys", action="store_true", help="play a 4x4 block of pads from the computer keyboard (arrows move it)")
    play.add_argument("--resume", nargs="?", const="autosave", type=state_name_type, metavar="NAME",
                      help="restore the state saved last (or the one saved as NAME; NAME.prev: the one kept before its last save): "
                           "mapping, parameters, captures")
    play.add_argument("--no-autosave", action="store_true", help="do not save the live state on changes and at exit")

    from liveengine.control.midi.cli import add_commands as add_midi_commands, add_play_options as add_midi_options

    add_midi_options(play)  # --midi-api, --midi-in, --no-midi
    add_midi_commands(commands, debug)  # liveengine midi, liveengine learn

    commands.add_parser("devices", parents=[debug], help="list audio output devices")

    render = commands.add_parser("render", parents=[debug], help="render a score offline through the engine to a WAV file")
    render.add_argument("patch", help="a .toml patch file or a shipped patch name")
    render.add_argument("--score", required=True, metavar="FILE", help="score: one `SECONDS /address args` per line")
    render.add_argument("--out", required=True, metavar="FILE.wav")
    render.add_argument("--force", action="store_true", help="replace --out if it exists")
    render.add_argument("--samplerate", type=samplerate_type)
    render.add_argument("--blocksize", type=blocksize_type)
    render.add_argument("--tail", type=tail_seconds_type,
                        help="seconds rendered after the last command, 0 to end there (default: until every sound has decayed)")
    render.add_argument("--max-seconds", type=seconds_type, default=MAX_RENDER_SECONDS, metavar="SECONDS",
                        help=f"refuse a render longer than this (default {MAX_RENDER_SECONDS:g} s of audio)")

    check = commands.add_parser("check", parents=[debug], help="validate a patch and its model and print what would run")
    check.add_argument("patch", nargs="?", help="a .toml patch file or a shipped patch name (default: the default patch)")

    from liveengine.export.cli import add_commands as add_export_commands  # render-grid, similar
    from liveengine.groove.cli import add_commands as add_groove_commands  # render-grooves

    add_groove_commands(commands, debug)

    add_export_commands(commands, debug, samplerate_type)
    from liveengine.export.sounds_cli import add_commands as add_sound_commands  # audition, generate

    add_sound_commands(commands, debug, samplerate_type)
    from liveengine.training.cli import add_commands as add_train_command  # train (PyTorch only once it runs)

    add_train_command(commands, debug)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        if hasattr(args, "run"):  # commands registered from other modules (liveengine.export.cli)
            return args.run(args)
        return {"play": cmd_play, "devices": cmd_devices, "render": cmd_render, "check": cmd_check}[args.command](args)
    except LiveEngineError as exc:
        if args.debug:
            raise
        print(f"liveengine: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as stop:
        if not getattr(stop, "told", False):  # a command that says what it kept marks it told
            print("liveengine: stopped by Ctrl-C.", file=sys.stderr, flush=True)
        return 130


def _new_file(path: Path) -> Path:
    """`path`, or path-1, path-2, ... : the first name not taken (never overwrite)."""
    candidate, n = path, 1
    while candidate.exists():
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
        n += 1
    return candidate


def _check_user_folders(autosave: bool) -> None:
    """The folders play writes into on request (captures) and on changes (autosave), checked before any work."""
    from liveengine.output_paths import check_output
    from liveengine.resources import library_dir, state_dir

    check_output(library_dir(), "the capture folder", "Set LIVEENGINE_LIBRARY to a folder you can write to.", folder=True)
    if autosave:
        check_output(state_dir(), "the state folder", "Set LIVEENGINE_STATE to a folder you can write to, or add --no-autosave.", folder=True)


def _clear_interrupted_saves() -> None:
    """Remove the temporaries saves cut short by a crash left in the state folder (the states themselves are complete)."""
    from liveengine.atomic_file import remove_stale_temporaries
    from liveengine.resources import state_dir

    removed = remove_stale_temporaries(state_dir())
    if removed:
        say(f"liveengine: removed {len(removed)} temporary file(s) left in {state_dir()} by saves a crash cut short.")


class _StopSignals:
    """Ctrl-C and SIGTERM for `play`, from its first step: until the play loop runs, each raises KeyboardInterrupt (a
    load or render stops at once, a recording is closed whole) and sets `stop`; in the loop (`playing`), it only sets
    `stop`. The event stays set, so an interrupt that a library swallowed before the loop still stops the loop at its
    first check: a Ctrl-C sent while the grid rendered left play playing on in 2 of 4 quiet runs of the JACK tests two at
    a time (the interrupt lost before the loop's handler was installed, by all signs), and in 0 of 3 with the flag kept."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.playing = False
        self._previous = {}

    def _handler(self, signum, frame) -> None:
        self.stop.set()
        if not self.playing:
            raise KeyboardInterrupt

    def __enter__(self) -> "_StopSignals":
        for number in (signal.SIGINT, signal.SIGTERM):
            self._previous[number] = signal.signal(number, self._handler)
        return self

    def __exit__(self, *exc) -> None:
        for number, previous in self._previous.items():
            signal.signal(number, previous)


def cmd_play(args) -> int:
    with _StopSignals() as signals:
        return _play(args, signals)


def _play(args, signals: _StopSignals) -> int:
    from liveengine.cli_support import patch_device
    from liveengine.control.score import ScoreFeeder, load_score
    from liveengine.engine import Engine

    patch = load_patch_arg(args.patch)
    if args.model:
        patch = patch_with_model(patch, args.model)
    options = patch.options(samplerate=args.samplerate, blocksize=args.blocksize)
    if args.record and Path(args.record).exists() and not args.force:
        raise LiveEngineError(f"{args.record} already exists; liveengine never overwrites a recording.", "Choose another file name, or add --force.")
    if args.record:
        wav_output(Path(args.record), "--record")
    _check_user_folders(autosave=not args.no_autosave)
    _clear_interrupted_saves()
    if args.resume:
        from liveengine.resources import state_dir

        if not (state_dir() / f"{args.resume}.json").is_file():  # before any device or model work: a quick, clear refusal
            raise LiveEngineError(f"no saved state named {args.resume!r} in {state_dir()}.",
                                  "Play once without --resume (state is saved as 'autosave'), or save one with /state/save NAME.")

    if args.keys:
        from liveengine.control.keys import check_terminal

        check_terminal(sys.stdin.fileno())
    if patch.engine["render_in"] == "process":  # first: the render process is on the way to the first sound
        from liveengine.render.process_workers import prestart, warm_start

        warm_start()
        prestart(patch.model, patch.path, patch.model_options, options.samplerate, patch.engine["max_seconds"])
    # The control process never opens the device: the audio server process does (liveengine/server/).
    device_spec = patch_device(patch, options, args.device)

    # The render process's fork server and the audio server's process start now: their interpreters'
    # start-up overlaps the model load here and the render.
    engine = Engine(patch, options, on_report=lambda m: say(f"liveengine: {m}"), prepare_audio=True)
    if args.resume:
        from liveengine.resources import state_dir

        try:
            engine.restore_state(state_dir() / f"{args.resume}.json")
        except LiveEngineError:
            engine.stop()
            raise
    engine.autosave = None if args.no_autosave else "autosave"
    engine.keep_last_session = args.resume != "autosave"  # a new session: its first autosave keeps the last one's
    osc = midi = keys = web = None
    finished = False
    try:
        score = None  # (events, loop seconds): the whole score checked against the patch before the device opens
        if args.score:
            score = load_score(args.score, fits=engine.check_fits), None
        elif args.demo:
            if patch.demo_score is None:
                raise LiveEngineError(f"patch {patch.name} has no [demo] score.", "Give one with --score FILE.")
            score = load_score(patch.demo_score, fits=engine.check_fits), patch.demo_seconds
        if not args.no_osc:
            from liveengine.control.osc.server import OscServer

            osc = OscServer(engine, args.osc_host, args.osc_port, allow=tuple(args.osc_allow))
        web = _web_server(engine, patch, args)  # bound now: a taken port is refused before the device opens
        from liveengine.control.midi.cli import open_groove_midi_out, server_reads_midi, start_for_play

        server_midi = server_reads_midi(patch, args, device_spec)
        midi = start_for_play(engine, patch, args, say, server=server_midi)  # before the stream: see control/midi/ports.py PortPool
        if server_midi and midi is not None:  # notes read in the audio server's own JACK callback, at their exact frames
            device_spec = dataclasses.replace(device_spec, midi_in=True)  # (MIDI that is off opens no server inputs either)
        device_spec = open_groove_midi_out(engine, patch, args, device_spec, say)  # the groove's notes out, if it sends any
        engine.prepare_audio(device_spec)  # the device opens while the grid renders; `start` below says if it could not
        if args.record:  # from the device's first block: pads hit while the grid renders sound, so they are recorded too
            engine.record(args.record, overwrite=args.force)
        from liveengine.grid.terminal_map import print_grid_map  # imported while the grid renders (rich: 9 ms)

        engine.wait_rendered(on_progress=Progress("rendering pads"))
        print_grid_map(engine)
        try:
            engine.start(device_spec)
        except LiveEngineError as exc:
            if "no audio output device" not in exc.message:
                raise
            engine.stop()
            engine = None
            return _play_without_device(patch, args)
        say(f"liveengine {__version__}: patch '{patch.name}' ({patch.path}), decoder {engine.instrument.decoder.name}, "
            f"{engine.instrument.setting.rows}x{engine.instrument.setting.cols} pads, timing {options.timing}")
        server = engine.server
        callback = f", callback {server.scheduling}" if server.scheduling.startswith("SCHED_FIFO") else ""
        say(f"audio server: pid {server.pid}{callback}" + (f", priority nice {server.nice}" if server.nice < 0 else
                                                           ", normal priority (not allowed to raise it: see Real-time priority in the README)"))
        say(f"playing on {engine.backend.description}" + (f", recording to {args.record}" if args.record else ""))
        if osc is not None:
            osc.start()
            say(f"listening for OSC on {osc.address[0]}:{osc.address[1]} (see docs/osc.md)")
        if web is not None:
            from liveengine.control.web.server import print_address

            web.start()
            print_address(web, say)
        stop = signals.stop
        if args.keys:
            from liveengine.control.keys import KeyboardPlayer

            keys = KeyboardPlayer(engine, say)
            keys.start()
        feeder = None
        if score is not None:
            lead = int(0.1 * options.samplerate)
            feeder = ScoreFeeder(engine, score[0], engine.now_frame() + lead, horizon_frames=int(0.5 * options.samplerate), loop_seconds=score[1])
            say(f"playing score {args.score or patch.demo_score}" + (" in a loop" if score[1] else ""))
        say("Ctrl-C to stop." if args.seconds is None else f"playing for {args.seconds:g} s (Ctrl-C stops sooner).")
        started = time.monotonic()
        last_status = started
        signals.playing = True
        while not stop.wait(0.02):
            if feeder is not None:
                feeder.feed(engine.now_frame())
            now = time.monotonic()
            if args.seconds is not None and now - started >= args.seconds:
                break
            if now - last_status >= 2.0:
                last_status = now
                s = engine.status()
                say(f"voices {s['voices']:2d}  cpu {s['cpu_load']:.0%}  p99 {s['callback_p99']:.0%}  xruns {s['xruns']}  "
                    f"late {s['late_commands']}  drops {s['queue_drops']}  pads {s['rendered']}")
        finished = True
    finally:
        if keys is not None:
            keys.stop()  # the terminal back as it was
        if osc is not None:
            osc.stop()
        if web is not None:
            web.stop()
        if midi is not None:
            midi.stop()  # LEDs off and controllers back in their own mode
        if engine is not None:
            recorder = engine.recorder
            engine.stop()
            if recorder is not None and not finished:  # stopped early (Ctrl-C while the grid renders, an error): the file is whole
                say(f"recording saved to {args.record} ({recorder.frames_written / options.samplerate:.2f} s)")
        if midi is not None:
            midi.close()  # its JACK clients, once no Python audio callback runs
    s = engine.status()
    say(f"stopped: {s['blocks']} blocks, {s['xruns']} xruns, {s['callback_errors']} callback errors" +
        (f"; recording saved to {args.record}" if args.record else ""))
    return 0


def _web_server(engine, patch, args):
    """The web panel's server when --web or the patch's [web] enabled asks for it (bound, not started), else None."""
    if args.web is None and not patch.web["enabled"]:
        return None
    from liveengine.control.web.server import WebServer

    return WebServer(engine, args.web_host or patch.web["host"], args.web or patch.web["port"],
                     allow_writes_from_network=patch.web["allow_writes"])


def wav_size(frames: int, channels: int) -> str:
    """The size of a float32 WAV file of `frames` frames, for people (92 bytes of header, see CrashSafeWavWriter)."""
    size = 92 + frames * channels * 4
    return f"{size / 1e9:.1f} GB" if size >= 1e9 else f"{size / 1e6:.1f} MB"


def render_score_to_file(patch, score: Path, out: Path, *, seconds: float | None = None, tail: float | None = None,
                         max_seconds: float = MAX_RENDER_SECONDS, samplerate=None, blocksize=None, overwrite=False,
                         loop_seconds: float | None = None, limit_hint: str = "Check the score's times, or raise the limit with --max-seconds.") -> dict:
    """Render a score file through the engine on the offline backend into a WAV file.

    seconds: how long the score plays (None: to its last command), when a stream note it left held is released;
    then `tail` seconds more, or with tail None until every sound has decayed (at most the patch's longest sound,
    or a stream's release and margin), the stream voice's release included, so no render ends mid-hit; what still
    sounds at the file's last frame (a short --tail) fades out over its last FILE_FADE_S. loop_seconds: play the score again every so many seconds (the demo). Before `out` is
    created, the whole score is checked against the loaded patch and the length against
    `max_seconds`; the length and size are said before rendering starts. Ctrl-C midway keeps what
    was rendered (a complete WAV file) and says so.
    """
    import numpy as np

    from liveengine.audio.offline import OfflineBackend
    from liveengine.audio.wav_writer import CrashSafeWavWriter
    from liveengine.commands import Command
    from liveengine.control.score import ScoreFeeder, load_score
    from liveengine.engine import Engine

    options = patch.options(samplerate=samplerate, blocksize=blocksize)
    engine = Engine(patch, options)  # a bad model fails here, before `out` is created or truncated
    try:
        events = load_score(score, fits=engine.check_fits)
        if not events:
            raise LiveEngineError(f"score {score} has no commands.", "Add lines like `0.250 /pad 3 4 0.8`.")
        played = events[-1][0] if seconds is None else seconds
        decay = tail is None
        # With decay, the length is known only as "at most": the last sound is at most the patch's longest.
        bound = played + (max(patch.engine["max_seconds"], engine.stream_tail_seconds()) + 0.1 if decay else tail)
        rate = options.samplerate
        total = int(bound * rate)
        if bound > max_seconds:
            raise LiveEngineError(f"score {score} asks for {bound:g} s of audio ({wav_size(total, options.channels)} of WAV), "
                                  f"over the limit of {max_seconds:g} s; its last command is at {events[-1][0]:g} s.",
                                  limit_hint)
        try:
            writer = CrashSafeWavWriter(out, rate, options.channels, overwrite=overwrite)
        except FileExistsError:
            raise LiveEngineError(f"{out} already exists; liveengine never overwrites it silently.", "Choose another --out, or add --force.") from None
        except OSError as exc:
            raise LiveEngineError(f"cannot create {out}: {exc.strerror}.") from None
        if decay:
            say(f"rendering {played:.2f} s of audio and its last sounds' decay (at most {bound:.2f} s, {wav_size(total, options.channels)}) to {out}")
        else:
            say(f"rendering {bound:.2f} s of audio ({wav_size(total, options.channels)}) to {out}")
        with writer, Progress("rendering audio", unit=" s", log=bound > LONG_RENDER_SECONDS) as progress:
            try:
                engine.wait_rendered(on_progress=Progress("rendering pads", log=False))
                backend = OfflineBackend(rate, options.blocksize, options.channels)
                engine.start(backend)
                feeder = ScoreFeeder(engine, events, 0, horizon_frames=options.blocksize * 4, loop_seconds=loop_seconds)
                groove = engine.groove  # a patch's groove is fed block by block, as the score is
                end = int(played * rate)
                if seconds is not None:
                    feeder.end_frame = end  # a looped or cut score stops there; a whole one ends by itself
                held = engine.stream is not None  # a stream note the score leaves held ends with the score

                def feed(frame: int) -> None:
                    nonlocal held
                    feeder.feed(frame)
                    if groove is not None:
                        groove.feed(frame)
                    if held and frame + options.blocksize > end:  # the score ends in this block: release the stream
                        held = False
                        engine.submit(Command("/stream/off", (-1,), max(frame, end)))

                fade = min(int(FILE_FADE_S * rate), total)

                def write(block) -> None:
                    # The file ends at its length to the frame (the clock runs whole blocks), and what still sounds at
                    # its last frame fades over its last 50 ms: a file never ends on a cut.
                    first = writer.frames_written
                    block = block[:max(total - first, 0)]
                    if first + len(block) > total - fade:
                        block *= np.clip((total - np.arange(first, first + len(block))) / max(fade, 1), 0.0, 1.0)[:, None]
                    writer.write(block)

                done = 0
                while done < total:
                    if decay and done > end and engine.voices() == 0 and not engine.stream_sounding():
                        break  # every sound has decayed, the stream's release too
                    # Whole seconds while the score plays (progress once a second), then 8 blocks at a time.
                    chunk = min(rate, end - done) if done < end else 8 * options.blocksize
                    backend.run(min(chunk, total - done), feed, write)
                    done = backend.frame
                    progress(done / rate, bound)
            except KeyboardInterrupt as stop:  # the file stays a complete WAV of what was rendered: say so
                progress.close()
                kept = writer.frames_written
                raise told(stop, f"stopped by Ctrl-C; {out} keeps the first {kept / rate:.2f} s of {bound:.2f} s "
                                 f"as a complete WAV file ({wav_size(kept, options.channels)}).")
        status = engine.status()
        status["rejected"] = feeder.rejected
        status["frames"] = writer.frames_written
        status["seconds"] = writer.frames_written / rate
        status["commands"] = len(events)
        return status
    finally:
        engine.stop()


def _play_without_device(patch, args) -> int:
    """No audio device: render what `play` was asked to play (the score or the demo, for --seconds,
    into --record) to a file, and say so in one sentence."""
    if args.score:
        score, loop, what = Path(args.score), None, f"score {args.score}"
    elif patch.demo_score is not None:
        score, loop, what = patch.demo_score, patch.demo_seconds, "demo"
    else:
        raise LiveEngineError(f"there is no audio output device, and patch {patch.name} has no [demo] score to render instead.",
                              "Give a score with --score FILE, or connect an audio device.")
    seconds = args.seconds if args.seconds is not None else loop  # None: a score plays once, to its last hit's end
    # --record was refused earlier if it existed without --force; the engine opened it since.
    out = Path(args.record) if args.record else _new_file(Path("liveengine-demo.wav"))
    say(f"No audio output device found on this machine, so liveengine renders the {what} of patch '{patch.name}' "
        + (f"({seconds:g} s) " if seconds is not None else "") + f"to {out} instead"
        + ("; nothing plays live, so the web panel is not served." if args.web is not None else "."))
    try:
        # --seconds is the performer's own length (at most 24 h): the score-typo limit is for a score's length alone.
        status = render_score_to_file(patch, score, out, seconds=seconds, overwrite=bool(args.record), loop_seconds=loop,
                                      max_seconds=float("inf") if args.seconds is not None else MAX_RENDER_SECONDS,
                                      limit_hint="Check the score's times, or give play --seconds S to render S seconds of it.")
    except LiveEngineError:
        if args.record:  # the recording the engine opened for the device holds nothing: not left to block a rerun
            _remove_if_empty(out)
        raise
    say(f"Wrote {out.resolve()} ({status['seconds']:.2f} s); play it with any audio player.")
    return 0


def _remove_if_empty(path: Path) -> None:
    import soundfile

    try:
        if soundfile.info(str(path)).frames == 0:
            path.unlink()
    except (OSError, RuntimeError):  # soundfile's errors for an unreadable file: nothing of ours to remove
        pass


def wav_output(path: Path, flag: str) -> None:
    """Refuse, before any work, a WAV output (render --out, play --record) that is not a .wav or cannot be written."""
    from liveengine.output_paths import check_output

    if path.suffix.lower() != ".wav":
        raise LiveEngineError(f"{flag} {path} must end in .wav (liveengine writes 32-bit float WAV).")
    check_output(path, flag, f"Choose a {flag} file in a folder you can write to.")


def cmd_render(args) -> int:
    patch = load_patch_arg(args.patch)
    out = Path(args.out)
    wav_output(out, "--out")
    status = render_score_to_file(patch, Path(args.score), out, tail=args.tail, max_seconds=args.max_seconds, samplerate=args.samplerate,
                                  blocksize=args.blocksize, overwrite=args.force)
    say(f"Wrote {out} ({status['seconds']:.2f} s, {status['commands']} commands, {status['rejected']} rejected, peak {status['peak']:.3f}).")
    return 0


def cmd_devices(args) -> int:
    from liveengine.audio.sounddevice_backend import import_sounddevice, name_jack_client

    sd = import_sounddevice()
    name_jack_client(sd)
    devices = sd.query_devices()
    default = sd.default.device[1]
    outputs = [(i, d) for i, d in enumerate(devices) if d["max_output_channels"] > 0]
    if not outputs:
        say("No audio output devices found (PortAudio sees none). `liveengine play` will render its demo to a file instead.")
        return 0
    for i, d in outputs:
        mark = "*" if i == default else " "
        api = sd.query_hostapis(d["hostapi"])["name"]
        say(f"{mark} {i:3d}  {d['name']}  ({api}, {d['max_output_channels']} out, {d['default_samplerate']:.0f} Hz)")
    return 0


def _decode_ms(decoder, batch: int, repeats: int = 3) -> float:
    import numpy as np

    z = np.zeros((batch, decoder.latent_dim), np.float32)
    out = np.zeros((batch, decoder.output_length), np.float32)
    decoder.decode_into(z, out)
    started = time.perf_counter()
    for _ in range(repeats):
        decoder.decode_into(z, out)
    return (time.perf_counter() - started) / repeats * 1000


def _say_stream(engine, patch, options) -> None:
    """check's stream lines: the model's contract figures, and frames from the zero state (timed; the state contract
    held, else one ModelError from the probe)."""
    player = engine.stream
    if player is None:
        say("stream    none")
        return
    from liveengine.stream.probe import probe_stream

    info = player.info
    probe = probe_stream(player.model, options.samplerate)
    say(f"stream    {patch.stream['model']}: {info.name}, hash {info.identity}, contract v1 stream, {info.frame_rate} frames/s "
        f"(hop {probe.hop} at {options.samplerate} Hz), {info.harmonics} harmonics, {info.noise_bands} noise bands, "
        f"state {info.state_size}; input {player.settings.input}, slack_blocks {player.settings.slack_blocks:g}")
    say(f"frames    {probe.frame_ms_median:.3f} ms median, {probe.frame_ms_p99:.3f} ms p99 per {1000 / info.frame_rate:g} ms frame "
        f"(model {probe.model_ms_median:.3f} ms + synthesis, {probe.frames} frames from the zero state, one thread); "
        f"one frame at a time = one block within {probe.state_difference:.1g}")


def cmd_check(args) -> int:
    from liveengine.engine import Engine
    from liveengine.grid.terminal_map import print_grid_map

    from liveengine.decoders.trial_load import load_in_child

    patch = load_patch_arg(args.patch)
    options = patch.options()
    load_in_child(patch.model, patch.path, patch.model_options)  # check says why a model would kill play, rather than die of it
    started = time.perf_counter()
    engine = Engine(patch, options)
    try:
        ok = engine.wait_rendered(timeout=600, on_progress=Progress("rendering pads"))
        elapsed = time.perf_counter() - started
        decoder, grid = engine.instrument.decoder, engine.instrument.setting
        say(f"patch     {patch.name} ({patch.path})")
        say(f"model     {patch.model}: {decoder.name}, hash {decoder.identity}, latent {decoder.latent_dim}, "
            f"{decoder.sample_rate} Hz, {decoder.output_length} frames")
        info = getattr(decoder, "info", None)
        if info is not None:
            say(f"contract  v1 oneshot, output {info.output}" + (f" (STFT n_fft {info.n_fft}, hop {info.hop}, {info.window})" if info.output == "stft" else "")
                + f", normalize {patch.model_options['normalize']}, {patch.model_options['threads']} thread(s)")
            say(f"extras    encoder {'yes' if decoder.encoder else 'no'}, classifier " +
                (f"yes ({', '.join(info.classes)})" if decoder.classifier else "no") +
                f", latent stats {'yes' if info.latent_axes else 'no'}"
                + f", fit {'yes (decoder_grad.onnx: corner and --from files are fitted)' if getattr(decoder, 'can_fit', False) else 'no'}")
        say(f"decode    {_decode_ms(decoder, 1):.2f} ms for one sound, {_decode_ms(decoder, 8):.2f} ms for a batch of 8")
        say(f"grid      {grid.rows}x{grid.cols} {patch.grid['mapping']}, zoom {grid.zoom:g}, rotation {grid.rotation:g}")
        say(f"audio     {patch.audio['backend']} device {patch.audio['device'] or '(default)'}, {options.samplerate} Hz, "
            f"{options.blocksize} frames, output channels {list(options.output_pair)}, timing {options.timing}")
        say(f"engine    {options.voices} voices (+{options.release_voices} fading), steal {options.steal}, "
            f"velocity curve {options.velocity_curve:g}, master gain {options.master_gain:g}")
        say(f"choke     {', '.join(f'{k}: {list(map(list, v))}' for k, v in patch.choke.items()) or 'none'}")
        say(f"demo      {patch.demo_score or 'none'}")
        say(f"groove    {engine.groove.describe() if engine.groove else 'none'}")
        _say_stream(engine, patch, options)
        files = sum(label != "point" for label in getattr(engine.instrument.mapping, "labels", ()))  # corner files the mapping placed
        placed = f", {files} corner file{'s' if files != 1 else ''} placed (encoded and fitted)" if files else ""
        # the whole wait, not a per-pad cost: loading the model and placing corner files can take most of it
        say(f"ready     in {elapsed:.2f} s: the model loaded{placed}, {grid.rows * grid.cols} pads rendered")
        print_grid_map(engine)
        failed = engine.instrument.workers.errors + engine.instrument.cache.failures
        if not ok or failed:
            raise LiveEngineError(f"patch {patch.name}: {failed} renders failed (a decode error, silence or NaN); "
                                  "a model must render a sound on every pad.")
        say("ok")
    finally:
        engine.stop()
    return 0
