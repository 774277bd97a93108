"""No transparent huge pages for numpy's large arrays in the instrument's processes (liveengine/__init__.py).

Each case runs a fresh interpreter, makes a 16 MB array and reads the kernel's flags for the mapping
that holds it (/proc/self/smaps: `hg` is the huge-page advice numpy gives by default)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

PROBE = """
import json, multiprocessing, sys

def advised():
    # Whether any mapping under the array carries the advice (numpy advises its 2 MB-aligned middle).
    import numpy as np
    a = np.ones(4 << 20, dtype=np.float32)  # 16 MB: numpy advises huge pages from 4 MB
    low, high = a.ctypes.data, a.ctypes.data + a.nbytes
    overlaps = False
    for line in open("/proc/self/smaps"):
        field = line.split(" ", 1)[0]
        if "-" in field and not line.startswith("VmFlags"):
            start, end = (int(v, 16) for v in field.split("-"))
            overlaps = start < high and low < end
        elif overlaps and line.startswith("VmFlags:") and "hg" in line.split(":", 1)[1].split():
            return True
    return False

def child(queue):
    queue.put(advised())

if __name__ == "__main__":
    order = sys.argv[1]
    if order == "numpy-first":
        import numpy
        import liveengine
    elif order == "liveengine-first":
        import liveengine
    else:
        import numpy
    result = {"here": advised()}
    if order != "numpy-only":
        context = multiprocessing.get_context("spawn")  # as the audio server and render process start
        queue = context.Queue()
        process = context.Process(target=child, args=(queue,))
        process.start()
        result["child"] = queue.get(timeout=60)
        process.join()
    print(json.dumps(result))
"""


def probe(order: str, tmp_path: Path, **env: str) -> dict:
    script = tmp_path / "probe.py"
    script.write_text(PROBE)
    environment = {k: v for k, v in os.environ.items() if k != "NUMPY_MADVISE_HUGEPAGE"}
    environment["PYTHONPATH"] = str(ROOT)
    environment.update(env)
    out = subprocess.run([sys.executable, str(script), order], capture_output=True, text=True, timeout=120, env=environment, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture
def kernel_advises(tmp_path):
    """numpy on its own gets huge-page advice here; where it does not (no THP in the kernel) nothing can be told apart."""
    if not probe("numpy-only", tmp_path)["here"]:
        pytest.skip("this kernel does not take numpy's huge-page advice (no transparent huge pages)")


def test_no_huge_pages_when_liveengine_is_imported_first(kernel_advises, tmp_path):
    assert probe("liveengine-first", tmp_path) == {"here": False, "child": False}


def test_no_huge_pages_when_numpy_came_first(kernel_advises, tmp_path):
    # The host program's numpy is switched off at import; children get the environment.
    assert probe("numpy-first", tmp_path) == {"here": False, "child": False}


def test_a_users_own_setting_wins(kernel_advises, tmp_path):
    assert probe("liveengine-first", tmp_path, NUMPY_MADVISE_HUGEPAGE="1") == {"here": True, "child": True}
