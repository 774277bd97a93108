"""The control process's engine, one job per file:

- engine.py      Engine: wiring and lifecycle, the command FIFO, what each sound command does
- instrument.py  what a patch loads (decoder, grid, pad cache, render workers) and the checks against it
- hits.py        hit resolution: pad or point -> sample slot -> START record for the audio server
- session.py     state save/restore, captures, autosave
- supervisor.py  the supervisor thread (server restarts, pool collection, reports) and status
"""

from liveengine.engine.engine import Engine

__all__ = ["Engine"]
