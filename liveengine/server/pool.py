"""The sample pool: rendered sounds in shared-memory slots the audio server plays from.

scsynth's rule: allocate off the real-time thread, swap on it, free off it. The
control process owns the allocation. The render process writes a rendered buffer
straight into a slot leased to it (`lease`, `adopt_written`); other renders are
copied into a free slot (`adopt`). Either way the slot's generation is then bumped; every command that names a slot
carries that generation, and the server drops (and counts) a command whose
generation is stale. A slot is freed only when nothing can still name it: its
buffer is gone on the control side, the server has read every command that named
it, their target frames have passed, no voice is playing it (the server's
per-slot voice count), and the note table does not name it (the audio server starts MIDI
notes from it by itself: a table the MIDI thread has not refreshed yet, on a busy machine, then
plays the pad's previous render at the note's frame instead of leaving the note to a round trip
through the control process that would be late). Nothing is allocated or freed at full size on the audio
thread: the server only takes views of slots that already exist.
"""

from __future__ import annotations

import collections
import dataclasses
import threading
import time
import weakref

from liveengine.render.buffers import fit_into
from liveengine.server.layout import SharedState

GRACE_SECONDS = 0.2  # a released slot waits at least this long: covers a hit that read the buffer just before


class SamplePool:
    """Control process only (any control thread)."""

    def __init__(self, state: SharedState, clock=time.monotonic) -> None:
        """`clock`: seconds, for the grace period (a test's HandClock: liveengine/testing/clock.py)."""
        self.state = state
        self._clock = clock
        self.slots = len(state.slot_gen)
        self.slot_frames = state.samples.shape[1]
        self.hop = state.layout.envelope_hop
        self._free = list(range(self.slots - 1, -1, -1))
        self._generation = int(state.slot_gen.max()) + 1 if self.slots else 1
        self._last_named: dict[int, tuple[int, int]] = {}  # slot -> (FIFO count, target frame) of the last command naming it
        self._released: collections.deque = collections.deque()  # (slot, time released) from finalizers, any thread
        self._retiring: list[tuple[int, float]] = []
        self._leased: set[int] = set()  # lent to a render process to write into; not free, not yet named
        self._lock = threading.Lock()
        self.full = 0  # buffers that found no free slot
        self.truncated = 0  # buffers longer than a slot (cut, with a fade)

    def adopt(self, buffer):
        """Copy `buffer` (a PlayableBuffer) into a free slot; return the pooled copy, or None if the pool is full.

        The slot is released when the returned object is garbage-collected.
        """
        with self._lock:
            self._collect_locked()
            if not self._free:
                self.full += 1
                return None
            slot = self._free.pop()
            self._generation += 1
            generation = self._generation
        n, truncated = fit_into(self.state.samples[slot], buffer.samples)
        self.truncated += truncated
        return self._publish(slot, generation, n, buffer)

    def lease(self, count: int) -> list[int]:
        """Up to `count` free slots for a render process to write its renders into (it names each
        one it filled to `adopt_written`); fewer, or none, when the pool is short of free slots."""
        with self._lock:
            self._collect_locked()
            slots = [self._free.pop() for _ in range(min(count, len(self._free)))]
            self._leased.update(slots)
        return slots

    def unlease(self, slots) -> None:
        """Leased slots whose render process has ended: free again (nothing ever named them)."""
        with self._lock:
            for slot in slots:
                if slot in self._leased:
                    self._leased.remove(slot)
                    self._free.append(slot)

    def adopt_written(self, slot: int, length: int, truncated: bool, buffer):
        """A leased slot a render process filled with `length` frames (render/process_workers.py):
        `buffer` (a PlayableBuffer without samples) plays from it, its samples a read-only view of the
        slot. Released, like an adopted copy, when the returned object is garbage-collected."""
        with self._lock:
            if slot not in self._leased or not 0 < length <= self.slot_frames:
                raise ValueError(f"pool slot {slot} with {length} frames was not leased to a render process")
            self._leased.remove(slot)
            self._generation += 1
            generation = self._generation
        self.truncated += truncated
        samples = self.state.samples[slot, :length]
        samples.flags.writeable = False
        return self._publish(slot, generation, length, dataclasses.replace(buffer, samples=samples, in_slot=True))

    def _publish(self, slot: int, generation: int, n: int, buffer):
        state = self.state
        env = buffer.envelope[: state.envelopes.shape[1]]
        state.envelopes[slot, : len(env)] = env
        state.envelopes[slot, len(env) :] = 0.0
        state.slot_len[slot] = n
        state.slot_onset[slot] = buffer.onset
        state.slot_gen[slot] = generation  # published to the server by the FIFO record that names it
        pooled = dataclasses.replace(buffer, slot=slot, slot_gen=generation)
        weakref.finalize(pooled, self._release, slot)
        return pooled

    def _release(self, slot: int) -> None:
        self._released.append((slot, self._clock()))  # any thread: deque.append takes no lock

    def named(self, slot: int, fifo_count: int, target_frame: int) -> None:
        """A command naming `slot` was queued at `fifo_count` for `target_frame`."""
        self._last_named[slot] = (fifo_count, target_frame)

    def collect(self) -> None:
        """Free the released slots that nothing can name any more (control threads; the supervisor calls it)."""
        with self._lock:
            self._collect_locked()

    def _collect_locked(self) -> None:
        now = self._clock()
        released = self._released
        while released:
            self._retiring.append(released.popleft())
        if not self._retiring:
            return
        state = self.state
        read = state.fifo_read.load()
        state.blocks.load()  # acquire: the frame and refs below are at least as new as this block
        frame = state.counter("frame")
        refs = state.slot_refs
        keep = []
        in_table = None  # the slots the note table names, read once if needed
        for slot, since in self._retiring:
            count, target = self._last_named.get(slot, (-1, -(1 << 62)))
            if now - since < GRACE_SECONDS or count >= read or target >= frame or refs[slot] > 0:
                keep.append((slot, since))
                continue
            if in_table is None:
                table = state.note_slots
                in_table = set((table[table != 0] & 0xFFFF).tolist())  # entries: (generation << 16) | slot
            if slot in in_table:
                keep.append((slot, since))
                continue
            self._last_named.pop(slot, None)
            self._free.append(slot)
        self._retiring = keep

    def reset_refs(self) -> None:
        """After a server died: no voice plays any slot any more (its successor starts silent)."""
        self.state.slot_refs[:] = 0
        self.state.pad_voices[:] = 0

    @property
    def in_use(self) -> int:
        with self._lock:
            return self.slots - len(self._free)
