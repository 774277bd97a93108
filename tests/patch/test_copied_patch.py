"""A copy of a shipped patch, as a user makes one: `liveengine check` on it as a subprocess, in a folder of its own."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEFAULT = (REPO / "patches" / "default.toml").read_text()


def check(patch: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "liveengine", "check", patch.name], cwd=patch.parent,
                          capture_output=True, text=True, timeout=120)


def test_a_copy_of_the_default_patch_loads(tmp_path):
    mine = tmp_path / "mine.toml"
    mine.write_text(DEFAULT)  # its shipped names (model drums, score default.score) are not next to it
    result = check(mine)
    assert result.returncode == 0, result.stderr
    assert result.stdout.rstrip().endswith("ok")
    demo = next(line for line in result.stdout.splitlines() if line.startswith("demo "))
    assert Path(demo.split()[1]).resolve() == (REPO / "patches" / "default.score").resolve(), demo


def test_every_error_in_a_patch_is_reported_at_once(tmp_path):
    mine = tmp_path / "mine.toml"
    mine.write_text(DEFAULT.replace('decoder = "drums19"', 'decoder = "drumz"').replace('"default.score"', '"groove.score"')
                    .replace("blocksize = 128", "blocksize = 7"))
    result = check(mine)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    line = lines[0]
    assert line.startswith("liveengine: mine.toml has 3 errors: (1) [audio] blocksize = 7 is not allowed; allowed: an integer from 32 to 1024; "), line
    assert "(2) [model] decoder = 'drumz': model 'drumz' not found" in line and "allowed: builtin:testsynth, drums" in line, line
    assert "(3) [demo] score = 'groove.score' is neither a file next to the patch" in line and "nor a shipped score (default.score, voice.score)" in line, line
    assert line.endswith('Fix the name, or set score = "" for no demo.'), line
