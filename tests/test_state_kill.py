"""The saved state and its backup under SIGKILL (issue 15): a process killed at any instant of a save
leaves each of NAME.json and NAME.prev.json absent or complete, and the next start clears its temporaries."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time

from tests.cli.test_cli_errors import REPO, liveengine

SAVER = """
import sys
from pathlib import Path
from liveengine.state import save_state

state = {"captures": [{"file": f"capture-{i}.wav", "point": [i / 7] * 16} for i in range(1000)]}
path = Path(sys.argv[1])
save_state(path, {**state, "count": 0})
print("saving", flush=True)
count = 1
while True:
    save_state(path, {**state, "count": count})
    count += 1
"""


def kill_mid_write(saver: subprocess.Popen, folder, complete: int, target: str, rng: random.Random) -> None:
    """SIGKILL the saver, a random moment on, as soon as a file it writes whose name (less a leading dot)
    starts with `target` is seen part-written; or after 50 ms."""
    before = {name for name in os.listdir(folder) if name.endswith(".tmp")}  # left by earlier kills
    time.sleep(rng.uniform(0.0, 0.01))
    deadline = time.monotonic() + 0.05
    while time.monotonic() < deadline:
        try:
            if any(e.name not in before and e.name.lstrip(".").startswith(target) and e.stat().st_size < complete
                   for e in os.scandir(folder)):
                break
        except FileNotFoundError:
            pass  # renamed under us
    saver.send_signal(signal.SIGKILL)
    saver.wait()
    saver.stdout.close()


def complete_or_absent(path) -> None:
    if path.exists():
        assert "captures" in json.loads(path.read_bytes()), path  # JSONDecodeError: a torn file


def test_a_save_killed_at_any_instant_leaves_complete_files(tmp_path, short_patch, monkeypatch):
    state = tmp_path / "state"
    state.mkdir()
    monkeypatch.setenv("LIVEENGINE_STATE", str(state))
    environment = {**os.environ, "PYTHONPATH": str(REPO)}
    rng = random.Random(15)
    for trial in range(20):
        saver = subprocess.Popen([sys.executable, "-c", SAVER, str(state / "gig.json")], stdout=subprocess.PIPE, env=environment)
        assert saver.stdout.readline() == b"saving\n"
        target = ("gig.json.", "gig.prev.json")[trial % 2]  # the state's write, the backup's
        kill_mid_write(saver, state, (state / "gig.json").stat().st_size - 100, target, rng)
        complete_or_absent(state / "gig.json")
        complete_or_absent(state / "gig.prev.json")
    # The next start removes what the killed saves left (aged: a live save's temporary is seconds old at most).
    (state / ".gig.json.crashed.tmp").write_text("{")  # at least one, whatever the kills hit
    stale = [p for p in state.iterdir() if p.suffix == ".tmp"]
    past = time.time() - 3600
    for temporary in stale:
        os.utime(temporary, (past, past))
    live = state / ".gig.json.live.tmp"
    live.write_text("{")
    result = liveengine("play", str(short_patch()), "--seconds", "0.1", "--no-osc", "--no-midi", cwd=tmp_path)
    assert f"removed {len(stale)} temporary file(s) left in {state}" in result.stdout, result.stdout + result.stderr
    assert sorted(p.name for p in state.iterdir() if p.suffix == ".tmp") == [live.name]
