"""A voice that plays from a ring another process fills ahead: the seam for streaming decoders.

The pad voices play rendered one-shots from the sample pool. A streaming decoder
(continuous latent trajectories, audio in to audio out) cannot render ahead of the
hit: a producer process writes its output into `stream` (a ring of float32 frames
in the shared segment) a little ahead of time and publishes how far it wrote
(`stream_write`); this voice, on the audio thread, plays from it and publishes
how far it read (`stream_read`). Nothing waits: frames the producer has not
written when they are due are silence, counted (`stream_underruns`).

A PANIC fades it out as a stop does, then drops what the ring holds (made before the panic)
and plays on from the producer's next frames. A fade that has begun always runs out: a start
during it comes back in after it, a stop during a panic's turns the voice off at its end; a
start from silence fades in. A replacement server turns it on again at the gain the last one
had (`stream_gain`).

A shortfall never clicks, and a single one is not heard. The producer writes, past each frame it
publishes, a block and FADE_FRAMES of what would follow it (its synth run on with the last controls
held) and stores where that continuation ends in `stream_tail`. A block the producer has not fully
written is then played to the last written frame and on into the continuation at full level, and
read past as if written (a *bridge*, `stream_bridges`; the frames it lacked count in
`stream_underruns`). The continuation's next FADE_FRAMES are kept, and the next block rises out of
them into the producer's own frames for those moments: both run the same synth on from the same
phase, so the crossfade has no step (the copy is checked against the producer's write sequence,
`stream_seq`, and made again if a write ran meanwhile: never played torn). Late again in that next
block (or with a continuation too short for a block, or still fading in), the voice plays on into
what it has and fades it to silence over FADE_FRAMES, or over the block where blocks are shorter
(`stream_fades`). So the producer need only stay a block ahead, and a producer held up
once by a block (the machine stalled, the backend caught up at once) is not heard. Without a
continuation (a producer that writes none) a block after which fewer than FADE_FRAMES written frames
would remain is played with its end faded. After a fade the voice plays silence without reading until
the producer is a block (and, without a continuation, a fade) ahead again, and comes back in over
FADE_FRAMES.

A STREAM command starts it (its `value` is the gain) at its frame, or stops it
there (gain 0); a stop fades out over FADE_FRAMES after its frame, so it never
clicks. The producer starts from silence. The producer itself is built later
(streaming decoders); `server/stream.py` is its side of the ring.
"""

from __future__ import annotations

import numpy as np

FADE_FRAMES = 64


class StreamVoice:
    """Audio thread only (see rt/core.py's contract): no allocation beyond views, no waiting."""

    def __init__(self, ring: np.ndarray, write_word, read_word, max_block: int = 1024, tail_word=None, seq_word=None) -> None:
        self.ring = ring
        self.size = len(ring)
        self._write = write_word
        self._tail = tail_word  # None: the producer writes no continuation
        self._seq = seq_word  # odd while the producer writes (server/stream.py); None: a copy is never checked
        self._read_word = read_word
        self.read = read_word.load()  # a restarted server continues where the last one stopped
        self.gain = 0.0
        self.on = False
        self.begin = 0  # where in this block it starts (a start command's offset)
        self.stop_at = -1  # where in this block its fade-out starts, -1: not stopping
        self.fade_left = 0
        self.resume = False  # a panic's fade: at its end drop what the ring holds and play on from the producer's next frames
        self.then = 0.0  # what a running fade leads to: off (0), or on again at this gain, fading in
        self.underruns = 0
        self.fades = 0  # shortfalls faded out
        self.bridges = 0  # shortfalls played through on the producer's continuation
        self._bridge = np.zeros(FADE_FRAMES, np.float32)  # the continuation's frames after a bridged block
        self.bridge_used = FADE_FRAMES  # of those, how many the crossfade out of it has used (all: none pending)
        self._xfade = np.zeros(FADE_FRAMES, np.float32)
        self._last = np.float32(0.0)  # the last frame of a crossfade out of a bridge, before the gain
        self.starved = True  # the producer starts from silence: the first frames fade in
        self.rise = 0  # frames of the current fade-in played
        self._scratch = np.zeros(max_block, np.float32)
        self._supply = np.ones(max_block, np.float32)  # per-frame level of this block's frames (fade-in, shortfall fade-out)
        self._count = np.arange(1, max_block + 1, dtype=np.float32)
        self._desc = np.arange(max_block - 1, -1, -1, dtype=np.float32)  # its last n entries: n-1 ... 0
        self._fade = np.linspace(1.0, 0.0, FADE_FRAMES + 1, dtype=np.float32)[1:]

    def command(self, gain: float, offset: int) -> None:
        """A STREAM command applied at `offset` frames into the block being computed. A fade that has begun always
        runs out (cutting it short would click): a start during it comes back in after it, a stop during a panic's
        fade turns the voice off at its end."""
        fading = self.stop_at >= 0 or self.fade_left > 0
        if gain > 0.0:
            if not self.on:  # from silence: fade in from its frame once the producer is ahead
                self.on, self.gain, self.begin, self.then = True, gain, offset, gain
                self.starved, self.rise, self.bridge_used = True, 0, FADE_FRAMES
            elif self.stop_at >= 0 and not self.resume:  # a stop in this block, not begun: never mind it
                self.stop_at, self.then = -1, gain
                self.gain = gain
            elif fading:
                self.then = gain
            else:
                self.gain = self.then = gain
        elif self.on:
            if not fading:
                self.stop_at = offset
            self.then = 0.0

    def panic(self, offset: int) -> None:
        """PANIC: fade out as a stop does; then, instead of going off, skip what was written before and wait
        for the (reset) producer's next frames, fading them in. During a stop's fade: that fade, then the skip."""
        if self.on:
            if self.stop_at < 0 and self.fade_left == 0:
                self.stop_at, self.then = offset, self.gain
            self.resume = True

    def mix_into(self, mix: np.ndarray, frames: int) -> None:
        if not self.on:
            return
        begin, self.begin = self.begin, 0
        end = frames
        if self.stop_at >= 0:
            self.fade_left = FADE_FRAMES
            self.stop_at, stopping = -1, self.stop_at
        else:
            stopping = -1
        if self.fade_left:
            fade_from = max(stopping, 0) if stopping >= 0 else begin
            end = min(frames, fade_from + self.fade_left)
        want = end - begin
        written = self._write.load()
        # `stream_tail` is loaded after `stream_write` and stored before it: up to it the ring holds frames written or
        # the continuation of the last ones, whichever write it belongs to
        readable = written if self._tail is None else max(written, self._tail.load())
        available = written - self.read
        reserve = 0 if readable - written >= FADE_FRAMES else FADE_FRAMES
        short = available < want + reserve
        bridging = self.bridge_used < FADE_FRAMES
        piece = self._scratch[:want]
        if self.starved and short:
            played = 0  # hold on until the producer is a block (and a fade without a continuation) ahead again
            self.underruns += want
        elif want and bridging and available < want:  # late twice running: the rest of the bridge, faded to silence
            played = min(want, FADE_FRAMES - self.bridge_used)
            piece = self._scratch[:played]
            piece[:] = self._bridge[self.bridge_used : self.bridge_used + played]
            if self.bridge_used:  # a crossfade out of it had begun (blocks under FADE_FRAMES): lead from where it was
                lead = self._xfade[:played]
                np.multiply(self._desc[len(self._desc) - played :], (self._last - self._bridge[self.bridge_used - 1]) / played, out=lead)
                piece += lead
            piece *= self._desc[len(self._desc) - played :]
            piece *= 1.0 / played
            self.bridge_used = FADE_FRAMES
            self.starved, self.rise = True, 0
            self.fades += 1
            self.underruns += want
        elif want and 0 <= available < want and readable - self.read >= want + FADE_FRAMES and self.rise >= FADE_FRAMES:
            # late once: play the block on into the continuation at full level, read past it as if written, and keep
            # the fade's worth after it (the bridge) to crossfade into the producer's own frames next block
            played = want
            if self._gather_unraced(piece):
                self.bridge_used = 0
                self.bridges += 1
            else:  # a write raced both copies: what was copied may be torn; fade it out over the block
                piece *= self._desc[len(self._desc) - want :]
                piece *= 1.0 / want
                self.starved, self.rise = True, 0
                self.fades += 1
            self.underruns += want - available
            self.read += want
        else:
            take = min(want, max(available, 0))
            extra = min(want - take, FADE_FRAMES) if reserve == 0 else 0  # frames of the continuation to fade over
            played = take + extra
            self.underruns += want - take
            piece = self._scratch[:played]
            self._gather(self.read, piece)
            if bridging and played:  # the block after a bridge: from the bridge into the producer's frames
                self._crossfade(piece)
                self._last = piece[played - 1]
            if played and (self.starved or self.rise < FADE_FRAMES or short):
                piece *= self._supply_ramp(played, short)
                if self.starved:  # faded out: no crossfade is left to finish when it comes back in
                    self.bridge_used = FADE_FRAMES
            self.read += take
        self._read_word.store(self.read)
        if played:
            piece *= self.gain
            if self.fade_left:
                self._apply_fade(piece, begin, stopping)
            mix[begin : begin + played] += piece
        if self.fade_left:
            faded = end - (max(stopping, 0) if stopping >= 0 else begin)
            self.fade_left -= faded
            if self.fade_left <= 0:  # out: silent, and whatever comes next fades in
                self.fade_left, self.bridge_used, self.starved, self.rise = 0, FADE_FRAMES, True, 0
                if self.resume:  # a panic: what the ring holds was made before it; play on from what comes next
                    self.resume = False
                    self.read = self._write.load()
                    self._read_word.store(self.read)
                if self.then > 0.0:  # a panic, or a start during the fade: on, at the gain asked for last
                    self.gain = self.then
                else:
                    self.on, self.gain = False, 0.0

    def _gather(self, at: int, out: np.ndarray) -> None:
        """Copy the ring's frames from `at` into `out` (at most two pieces: the ring wraps once)."""
        done = 0
        while done < len(out):
            start = (at + done) % self.size
            n = min(len(out) - done, self.size - start)
            out[done : done + n] = self.ring[start : start + n]
            done += n

    def _gather_unraced(self, piece: np.ndarray) -> bool:
        """A bridge's copies (the block, the continuation past it), checked against the producer's write sequence: a
        write that ran meanwhile may have left them half old and half new (a step where they meet). Copied again once
        if so (a write that has finished leaves them whole: the frames and the continuation of one write); whether
        the copy is whole."""
        for _ in range(2):
            before = self._seq.load() if self._seq is not None else 0
            self._gather(self.read, piece)
            self._gather(self.read + len(piece), self._bridge)
            if self._seq is None or (not before & 1 and self._seq.load() == before):
                return True
        return False

    def _crossfade(self, piece: np.ndarray) -> None:
        """The first frames of `piece` (the producer's own, right after a bridge) rise out of the bridge over what is
        left of FADE_FRAMES: both continue the same synth from the same phase, so they meet without a step."""
        used = self.bridge_used
        n = min(len(piece), FADE_FRAMES - used)
        bridge, step = self._bridge[used : used + n], self._xfade[:n]
        np.subtract(piece[:n], bridge, out=step)
        step *= self._count[used : used + n]
        step *= 1.0 / FADE_FRAMES
        np.add(bridge, step, out=piece[:n])
        self.bridge_used = used + n

    def _supply_ramp(self, take: int, short: bool) -> np.ndarray:
        """Levels for the `take` frames of this block: the rest of a fade-in, then (`short`: the producer is
        about to run dry) a fade-out that reaches silence at the last frame taken."""
        supply = self._supply[:take]
        if self.starved:
            self.starved, self.rise = False, 0
        if self.rise < FADE_FRAMES:
            np.add(self._count[:take], self.rise, out=supply)
            supply *= 1.0 / FADE_FRAMES
            np.minimum(supply, 1.0, out=supply)
        else:
            supply.fill(1.0)
        self.rise += take
        if short:
            n = min(take, FADE_FRAMES)
            tail = supply[take - n :]
            tail *= self._desc[len(self._desc) - n :]
            tail *= 1.0 / n
            self.starved = True
            self.fades += 1
        return supply

    def _apply_fade(self, piece: np.ndarray, at: int, stopping: int) -> None:
        """Multiply the part of `piece` (frames from `at` in the block) after the fade's start by the ramp."""
        fade_start = stopping if stopping >= 0 else 0  # a fade that began in an earlier block runs from frame 0
        done_before = FADE_FRAMES - self.fade_left  # ramp frames used in earlier blocks
        lo = max(fade_start - at, 0)
        if lo >= len(piece):
            return
        first = done_before + (at + lo - fade_start)
        n = len(piece) - lo
        piece[lo:] *= self._fade[first : first + n]
