"""The control process's side of a stream: start its producer process, pass it the performer's
controls, restart it when it dies, report what it counted.

The producer (producer.py) is forked from the same fork server as the render process
(render/process_workers.py), with the shared segment's descriptor passed on, so it maps the same
stream rings. A producer that exits is replaced at the next supervisor tick (every 0.1 s), at most
once a second; the new one gets the settings and the pad's point again (held notes are released:
the performer plays the next). Offline (the offline backend's fake clock) the producer runs in
this process instead, pumped before each block, so a render is the same on a busy machine.
"""

from __future__ import annotations

import time
from multiprocessing import reduction
from pathlib import Path
from typing import Callable

from liveengine.decoders.stream_model import StreamModel
from liveengine.server.layout import SharedState
from liveengine.stream.producer import StreamProducer, StreamSettings, producer_main

RESTART_SECONDS = 1.0
READY_SECONDS = 30.0  # a new producer loads its model (onnxruntime session, a first run) within this


class _PassedFd:
    """The shared segment's descriptor, duplicated into the child as the process starts (fork server or spawn)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def __reduce__(self):
        return _received_fd, (reduction.DupFd(self.fd),)


def _received_fd(dup) -> int:
    return dup.detach()


class StreamPlayer:
    """One stream: its model (checked here at build, so a bad model is refused with the patch), its producer."""

    def __init__(self, shared: SharedState, folder: Path, sample_rate: int, blocksize: int, settings: StreamSettings,
                 report: Callable[[str], None]) -> None:
        self.model = StreamModel(folder)  # LiveEngineError (ModelError) for a model that breaks the contract
        self.info = self.model.info
        self.folder, self.shared = Path(folder), shared
        self.sample_rate, self.blocksize = sample_rate, blocksize
        self.settings = settings
        self.report = report
        self.xy = (0.5, 0.5)
        self.local: StreamProducer | None = None  # offline: the producer runs in this process
        self._process = None
        self._conn = None
        self._started_at = 0.0
        self._ready = False
        self.restarts = 0
        self.counts: dict = {}  # the producer's last stats (producer.py StreamProducer.stats)
        self.on_ready: Callable[[], None] | None = None  # called when a (new) producer has loaded its model

    # ---- lifecycle ----
    def start_local(self) -> StreamProducer:
        self.local = StreamProducer(self.shared, self.model, self.sample_rate, self.blocksize, self.settings)
        self.local.handle(("xy", *self._z(*self.xy)))
        return self.local

    def start(self) -> None:
        from liveengine.render.process_workers import _context

        context = _context()
        mine, theirs = context.Pipe()
        process = context.Process(target=producer_main, name="liveengine-stream",
                                  args=(_PassedFd(self.shared.segment.fd), self.shared.layout.as_dict(), str(self.folder),
                                        self.sample_rate, self.blocksize, self.settings.as_dict(), theirs), daemon=True)
        process.start()
        theirs.close()
        self._process, self._conn, self._started_at, self._ready = process, mine, time.monotonic(), False
        self.send(("xy", *self._z(*self.xy)))

    def stop(self) -> None:
        conn, process, self._conn, self._process = self._conn, self._process, None, None
        if conn is not None:
            conn.close()  # the producer's poll sees the pipe closed and exits
        if process is not None:
            process.join(2.0)
            if process.is_alive():
                process.kill()
                process.join(2.0)

    def check(self) -> None:
        """Supervisor tick: read the producer's answers; replace it if it died."""
        if self.local is not None:
            self.counts = self.local.stats()
            return
        conn, process = self._conn, self._process
        if process is None:
            return
        try:
            while conn.poll():
                kind, value = conn.recv()
                if kind == "ready":
                    self._ready = True
                    if value:
                        self.report(f"stream producer refused its model: {value}")
                    elif self.on_ready is not None:
                        self.on_ready()
                elif kind == "stats":
                    self.counts = value
        except (EOFError, OSError):
            pass
        if process.is_alive():
            if not self._ready and time.monotonic() - self._started_at > READY_SECONDS:
                self.report(f"stream producer did not load {self.folder.name} within {READY_SECONDS:g} s; restarting it")
                process.kill()
            return
        if time.monotonic() - self._started_at < RESTART_SECONDS:
            return  # at most one restart a second
        self.report(f"stream producer exited (code {process.exitcode}); restarting it")
        self.restarts += 1
        self.stop()
        self.start()

    @property
    def pid(self) -> int:
        return self._process.pid if self._process is not None else 0

    # ---- controls ----
    def send(self, message: tuple) -> bool:
        if self.local is not None:
            self.local.handle(message)
            return True
        conn = self._conn
        if conn is None:
            return False
        try:
            conn.send(message)
            return True
        except (OSError, ValueError):  # the producer died; check() replaces it
            return False

    @staticmethod
    def _z(x: float, y: float) -> tuple[float, float]:
        """The pad (0..1 each way) onto z (-1..1 each way)."""
        return 2.0 * x - 1.0, 2.0 * y - 1.0

    def move(self, x: float, y: float) -> bool:
        self.xy = (x, y)
        return self.send(("xy", *self._z(x, y)))

    def point_of(self, name: str) -> tuple[float, float]:
        """The pad position (0..1) of a trained instrument's point in z."""
        zx, zy = self.info.points[name]
        return (min(max((zx + 1.0) / 2.0, 0.0), 1.0), min(max((zy + 1.0) / 2.0, 0.0), 1.0))

    def change(self, **values) -> bool:
        settings = StreamSettings(**{**self.settings.as_dict(), **values})
        self.settings = settings
        return self.send(("settings", settings.as_dict()))
