"""The engine never imports PyTorch: only `liveengine train`'s training (liveengine/training) does, once it runs.

Checked in a child process, since the training tests import torch into the test process: every
module of the package but the training's torch modules, the command line built, and `train`
refusing bad input, then `torch` must not be among the loaded modules.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NEEDS_TORCH = {"liveengine.training.train", "liveengine.training.model", "liveengine.training.export", "liveengine.training.baseline",
               "liveengine.training.own", "liveengine.training.grooves_export", "liveengine.training.grooves_model",
               "liveengine.training.grooves_train", "liveengine.training.voices_model", "liveengine.training.voices_train",
               "liveengine.training.voices_export", "liveengine.training.augment", "liveengine.training.reencode",
               "liveengine.training.export_grad", "liveengine.training.tail", "liveengine.training.class_head",
               "liveengine.training.descent"}
CHILD = """
import importlib, pkgutil, sys
import liveengine
skip = set(sys.argv[1].split(",")) | {"liveengine.__main__", "liveengine.server.__main__"}
names = [m.name for m in pkgutil.walk_packages(liveengine.__path__, "liveengine.") if m.name not in skip]
for name in names:
    importlib.import_module(name)
from liveengine.cli import build_parser, main
build_parser()
assert main(["train", sys.argv[2], "--out", sys.argv[3]]) == 1
loaded = sorted(m for m in sys.modules if m == "torch" or m.startswith("torch."))
print(len(names), "modules;", "torch loaded" if loaded else "no torch")
"""


def test_the_engine_and_the_command_line_never_import_torch(tmp_path):
    (tmp_path / "empty").mkdir()
    result = subprocess.run([sys.executable, "-c", CHILD, ",".join(sorted(NEEDS_TORCH)), str(tmp_path / "empty"), str(tmp_path / "m")],
                            capture_output=True, text=True, timeout=120, cwd=REPO)
    assert result.returncode == 0, result.stderr
    count, _, verdict = result.stdout.strip().partition(" modules; ")
    assert int(count) > 60 and verdict == "no torch", result.stdout
    assert "is empty" in result.stderr
