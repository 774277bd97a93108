"""A bounded command queue between control threads and the audio callback."""

from __future__ import annotations

from collections import deque


class CommandQueue:
    """Many producers, one consumer (the audio callback); never blocks either side.

    `deque.append` and `deque.popleft` are atomic under the GIL and take no lock
    the consumer could wait on. The bound is checked before appending: with
    several producers it may be overshot by at most one item per producer, which
    is still bounded. A full queue is a counted drop, never a wait.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._items: deque = deque()
        self.dropped = 0

    def put(self, item: object) -> bool:
        if len(self._items) >= self.capacity:
            self.dropped += 1
            return False
        self._items.append(item)
        return True

    def get(self) -> object | None:
        """Non-blocking; None when empty. Audio-thread safe."""
        try:
            return self._items.popleft()
        except IndexError:
            return None

    def __len__(self) -> int:
        return len(self._items)
