"""The engine's stream commands and lifecycle hooks, kept out of engine.py (Engine mixes this class in).

`/stream/xy x y`, `/stream/note pitch velocity`, `/stream/off [pitch]`, `/stream/instrument name`,
`/stream/mix wet` and `/stream/input notes|audio` land here through the one command table; each
becomes a message to the stream's producer process (player.py). The audio server's stream voice is
turned on (a STREAM record with the [stream] gain) when the engine starts and off when the stream
goes (a patch without one, or the engine stopping).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from liveengine.errors import LiveEngineError
from liveengine.rt.core import ASAP, STREAM
from liveengine.rt.stream import FADE_FRAMES
from liveengine.stream.player import StreamPlayer
from liveengine.stream.producer import margin_frames

if TYPE_CHECKING:
    from liveengine.commands import Command


class StreamMethods:
    """Mixed into Engine: needs its shared state, options, offline flag, server, _send and report."""

    stream: StreamPlayer | None = None

    def _build_stream(self, patch) -> StreamPlayer | None:
        """The patch's stream (None without a [stream] model); LiveEngineError if its model is refused."""
        section = patch.stream
        if not section.get("model"):
            return None
        from liveengine.decoders.registry import find_model
        from liveengine.stream.section import settings_of

        folder = find_model(section["model"], patch.path, kind="stream")
        player = StreamPlayer(self.shared, folder, self.options.samplerate, self.options.blocksize, settings_of(section), self.report)
        name = section["instrument"]
        if name:
            if name not in player.info.points:
                raise LiveEngineError(f"[stream] instrument = {name!r} is not a point of model {player.info.name}; "
                                      f"allowed: {', '.join(player.info.points) or 'none (the model names no points)'}.")
            player.xy = player.point_of(name)
        return player

    def _start_stream(self) -> None:
        player = self.stream
        if player is None:
            return
        voice_on = lambda: self._send(STREAM, ASAP, value=player.settings.gain)  # noqa: E731
        if self.offline:  # the producer runs here, pumped before each block of the offline backend
            self.server.before_block = player.start_local().pump
            voice_on()
        else:  # the stream voice comes on when the producer has loaded its model (no underruns counted before)
            player.on_ready = voice_on
            player.start()

    def _swap_stream(self, new: StreamPlayer | None) -> None:
        old, self.stream = self.stream, new
        if old is not None:
            if new is None:
                self._send(STREAM, ASAP, value=0.0)  # fades out over the stream voice's 64 frames
            if self.server is not None and hasattr(self.server, "before_block"):
                self.server.before_block = None
            old.stop()
        if new is not None and self.server is not None:
            self._start_stream()

    def _stream_player(self) -> StreamPlayer:
        if self.stream is None:
            raise LiveEngineError(f"patch {self.instrument.patch.name} has no stream; add [stream] model = \"voices\" to it.")
        return self.stream

    # ---- commands (named in commands.py) ----
    def stream_xy(self, command: Command) -> bool:
        return self._stream_player().move(*command.args)

    def stream_note(self, command: Command) -> bool:
        pitch, velocity = command.args
        return self._stream_player().send(("note", pitch, velocity))

    def stream_off(self, command: Command) -> bool:
        return self._stream_player().send(("off", command.args[0]))

    def stream_instrument(self, command: Command) -> bool:
        player = self._stream_player()
        name = command.args[0]
        if name not in player.info.points:
            raise LiveEngineError(f"/stream/instrument {name!r} is not a point of model {player.info.name}; "
                                  f"allowed: {', '.join(player.info.points) or 'none (the model names no points)'}.")
        return player.move(*player.point_of(name))

    def stream_mix(self, command: Command) -> bool:
        return self._stream_player().change(mix=command.args[0])

    def stream_input(self, command: Command) -> bool:
        return self._stream_player().change(input=command.args[0])

    def stream_sounding(self) -> bool:
        """Offline: whether the stream may still be heard (a render waits for its release before it ends)."""
        player = self.stream
        return player is not None and player.local is not None and not player.local.quiet()

    def stream_tail_seconds(self) -> float:
        """The longest a released stream note may still sound: its release, the producer's margin and the voice's fade."""
        player = self.stream
        if player is None:
            return 0.0
        settings, rate = player.settings, self.options.samplerate
        ahead = margin_frames(self.options.blocksize, player.info.hop(rate), settings.slack_blocks) + FADE_FRAMES
        return settings.release_ms / 1000.0 + ahead / rate

    def stream_panic(self) -> None:
        if self.stream is not None:
            self.stream.send(("panic",))

    def stream_status(self) -> dict:
        """What /status shows of the stream: the producer's counts and the stream voice's."""
        player = self.stream
        if player is None:
            return {}
        c = self.shared.counter
        return {"stream_underruns": c("stream_underruns"), "stream_fades": c("stream_fades"),
                "stream_fades_hurried": c("stream_fades_hurried"), "stream_bridges": c("stream_bridges"),
                "stream_bridges_hurried": c("stream_bridges_hurried"), "stream_restarts": player.restarts,
                **{f"stream_{k}": v for k, v in (player.local.stats() if player.local is not None else player.counts).items()}}
