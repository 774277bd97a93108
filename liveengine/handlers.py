"""What each command does: the handlers named by the command table (commands.py).

Every input (OSC, MIDI, scores, the keyboard) turns what it received into a checked
`Command` and calls `Engine.submit`, which looks the address up in the one table and
runs its handler here. Sounds and parameters go to the engine (`/pad` -> `Engine.pad`
-> the audio server's command FIFO); the rest answers the caller: an OSC client gets
replies and feedback, a score or a MIDI controller has no way back (`Caller()`).

A handler returns True when the command was taken, False when it was dropped and
counted (queue full, pad not rendered yet), and raises LiveEngineError when it does
not fit the loaded patch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from liveengine.errors import LiveEngineError

if TYPE_CHECKING:
    from liveengine.commands import Command
    from liveengine.engine import Engine


def _nowhere(address: str, *args) -> None:
    pass


@dataclass
class Caller:
    """Who sent a command and how to answer it."""

    reply: Callable[..., None] = _nowhere  # reply(address, *args)
    subscribe: Callable[[int], int] | None = None  # feedback to the caller (at this port, 0 = its own); returns the port
    unsubscribe: Callable[[int], int] | None = None
    recordings: Path = field(default_factory=Path.cwd)  # where /record/start NAME writes NAME.wav


def _to_engine(method: str) -> Callable[["Engine", "Command", Caller], bool]:
    """A command the engine plays or applies: Engine.<method>(command)."""

    def handler(engine: "Engine", command: "Command", caller: Caller) -> bool:
        return getattr(engine, method)(command)

    handler.__name__ = handler.__qualname__ = method
    handler.engine_method = method  # type: ignore[attr-defined]
    return handler


pad, xy, latent, mix = _to_engine("pad"), _to_engine("xy"), _to_engine("latent"), _to_engine("mix")
pad_off, param, mapping, choke, panic = (_to_engine(m) for m in ("pad_off", "param", "mapping", "choke", "panic"))
groove_pad, groove_xy, groove_kit, groove_stop = (_to_engine(m) for m in ("groove_pad", "groove_xy", "groove_kit", "groove_stop"))
tempo_source, transport = _to_engine("tempo_source"), _to_engine("transport")
stream_xy, stream_note, stream_off, stream_instrument, stream_mix, stream_input = (
    _to_engine(m) for m in ("stream_xy", "stream_note", "stream_off", "stream_instrument", "stream_mix", "stream_input"))


def status_values(engine: "Engine") -> tuple:
    """/status's arguments: voices xruns queue_drops late_commands cpu_load rendered_pads total_pads memory_mb."""
    s = engine.status()
    done, total = (int(x) for x in s["rendered"].split("/"))
    memory = -1.0 if s["memory_mb"] is None else float(s["memory_mb"])
    return (s["voices"], s["xruns"], s["queue_drops"], s["late_commands"], float(s["cpu_load"]), done, total, memory)


def ping(engine: "Engine", command: "Command", caller: Caller) -> bool:
    caller.reply("/pong")
    return True


def status(engine: "Engine", command: "Command", caller: Caller) -> bool:
    caller.reply("/status", *status_values(engine))
    return True


def _feedback(caller: Caller, what: str) -> Callable[[int], int]:
    hook = getattr(caller, what)
    if hook is None:
        raise LiveEngineError(f"/{what} works over OSC only: this input gets no feedback.")
    return hook


def subscribe(engine: "Engine", command: "Command", caller: Caller) -> bool:
    caller.reply("/subscribed", _feedback(caller, "subscribe")(command.args[0]))
    return True


def unsubscribe(engine: "Engine", command: "Command", caller: Caller) -> bool:
    caller.reply("/unsubscribed", _feedback(caller, "unsubscribe")(command.args[0]))
    return True


def load_patch(engine: "Engine", command: "Command", caller: Caller) -> bool:
    from liveengine.patch import find_patch

    ok = engine.load_patch(find_patch(command.args[0]))
    caller.reply("/patch", command.args[0], "ok" if ok else "failed")
    return True


def record_start(engine: "Engine", command: "Command", caller: Caller) -> bool:
    path = caller.recordings / f"{command.args[0]}.wav"
    engine.record(path)
    caller.reply("/record/start", str(path))
    return True


def record_stop(engine: "Engine", command: "Command", caller: Caller) -> bool:
    recorder = engine.recorder
    if recorder is None:
        raise LiveEngineError("no recording is running.")
    engine.stop_recording()
    caller.reply("/record/stop", str(recorder.path))
    return True


def capture(engine: "Engine", command: "Command", caller: Caller) -> bool:
    caller.reply("/capture", str(engine.capture()))
    return True


def save_state(engine: "Engine", command: "Command", caller: Caller) -> bool:
    caller.reply("/state/save", str(engine.save_state(command.args[0])))
    return True


def run_for_client(engine: "Engine", command: "Command", caller: Caller, reject: Callable[[str, str, str], None], source: str) -> bool:
    """Run a checked command for a remote input (OSC, the web panel): True if the engine took it. A refusal
    calls reject(address, reason, counter): 'engine_rejected' when the engine could not take it or it did
    not fit the patch, 'failed' when a handler raised (a bug must not end the thread serving every client)."""
    try:
        if engine.submit(command, caller):
            return True
        reject(command.address, "the engine could not take it now (queue full or pad not rendered)", "engine_rejected")
    except LiveEngineError as exc:
        reject(command.address, exc.message, "engine_rejected")
    except Exception as exc:  # noqa: BLE001
        engine.report(f"{source} {command.address} failed: {type(exc).__name__}: {exc}")
        reject(command.address, f"failed ({type(exc).__name__}); the engine goes on", "failed")
    return False
