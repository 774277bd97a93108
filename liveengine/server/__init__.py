"""The audio server: the real-time audio path in a process of its own (scsynth's split from the language).

- `process.py`: the server process itself: attach the shared memory, open the device, run the callback, nothing else;
- `client.py`: the control process's side: start, watch and restart the server, send it commands;
- `layout.py`, `shm.py`: the shared memory between them; `fifo.py`: commands in; `pool.py`: sounds;
- `clock.py`: the one clock, host time to sample time.
"""
