"""Shared fixtures: patches for tests, and the session's JACK server."""

from __future__ import annotations

import os
import gc
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
TEST_JACK_SERVER = f"liveengine-test-{os.getpid()}"


def pytest_collection_modifyitems(config, items):
    """Mark the tests on the session's JACK server `jack`.

    `make test` (scripts/test.sh) runs these one at a time, so a test that counts onsets or xruns never shares
    the JACK server with another, and beside them the others three at a time (pytest-xdist) at nice 10. These can
    run two at a time (`-n 2`: each xdist worker starts a JACK server of its own, TEST_JACK_SERVER names it by the
    worker's process), in 92 to 148 s against 177 s, but one run in 14 hung there (not found); a Ctrl-C lost by
    `play` (2 quiet runs in 4, mended in cli._StopSignals) was found there. `make test` keeps them one at a time
    until the hang is found.
    """
    for item in items:
        if "jack_server" in item.fixturenames:
            item.add_marker(pytest.mark.jack)
    # The longest tests first: pytest-xdist hands tests out in this order, and a 40 s test handed out last ran alone on
    # one core while the others idled (the order within each group is kept).
    items.sort(key=lambda item: not any(part in item.nodeid for part in SLOW_FIRST))


SLOW_FIRST = ("tests/training/", "tests/cli/test_install_and_demo.py", "tests/test_state_sessions.py", "tests/cli/test_render_score.py")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    """A JACK test that fails while the session's JACK server was held up 100 ms or more fails as ServerStalled (see
    liveengine/testing/jack_rig.py), one that fails after a stand-in controller wrote or read late as StandInLate
    (liveengine/testing/midi_rig.py), its own failure the cause: scripts/test.sh runs either once more."""
    server = item.funcargs.get("jack_server") if hasattr(item, "funcargs") else None
    if server is None:
        return (yield)
    from liveengine.testing.jack_rig import hold_ups, stalled, xrun_count
    from liveengine.testing.midi_rig import MidiTester, stand_in_late

    mark, late = xrun_count(server.name), MidiTester.late_total
    try:
        return (yield)
    except (Exception, pytest.fail.Exception) as failure:  # pytest.fail's is a BaseException; a skip is no failure
        # Whatever failed, the report shows how the server fared meanwhile (its hold-ups, longest last) and the stand-in.
        held = hold_ups(server.name, mark)
        item.add_report_section("call", "jackd", f"{len(held)} hold-ups logged while the test ran" + (f"; the longest: {'; '.join(held[-3:])}" if held else "")
                                + f"; the stand-in controllers late {MidiTester.late_total - late} time(s)")
        raise (stalled(server.name, mark, failure) or stand_in_late(late, failure) or failure)


@pytest.fixture(autouse=True)
def no_stale_audio_client(request):
    """Before a test on the session's JACK server, wait until the last test's audio server JACK client
    `liveengine` is gone: on a synchronous server a killed client stays a while, and this test's client
    would then be `liveengine-01`, its capture connected to the stale one's ports (heard as silence).
    (The web panel's tests share one engine for their module, so theirs stays.)"""
    if "jack_server" in request.fixturenames and "panel" not in request.fixturenames:
        from liveengine.testing.jack_rig import wait_for_no_client

        assert wait_for_no_client(request.getfixturevalue("jack_server").name, "liveengine"), \
            "an audio server's JACK client was still registered 10 s after the test before this one"
    yield


@pytest.fixture
def short_patch(tmp_path):
    """A patch whose sounds are cut to 50 ms, so hits never overlap and onsets are unambiguous."""

    def make(extra_engine: str = "", extra_audio: str = "", extra: str = "") -> Path:
        path = tmp_path / "short.toml"
        path.write_text(
            '[model]\ndecoder = "builtin:testsynth"\n'
            "[grid]\nrows = 8\ncols = 8\n"
            f"[audio]\nsamplerate = 48000\nblocksize = 128\n{extra_audio}\n"
            f"[engine]\nmax_seconds = 0.05\nmaster_gain = 1.0\nvelocity_curve = 1.0\n{extra_engine}\n{extra}"
        )
        return path

    return make


USER_FOLDERS = ("LIVEENGINE_LIBRARY", "LIVEENGINE_STATE", "LIVEENGINE_CACHE", "LIVEENGINE_USER_PATCHES")


def pytest_configure(config):
    """Captures, saved state, caches and user patches are in a temporary folder, never in the tester's home. Set before
    collection: a test module that copies os.environ when imported (an environment for its subprocesses) copies these
    too (a session fixture came after, and `play` in such a subprocess wrote the tester's own autosave)."""
    import tempfile

    config._liveengine_user = tempfile.mkdtemp(prefix="liveengine-tests-user-")
    ours = os.environ.get("LIVEENGINE_TESTS_USER_FOLDERS") == "1"  # set by the run that started this one (xdist's workers)
    for name in USER_FOLDERS:
        if ours or name not in os.environ:  # each worker its own (the training job lock lives there), a tester's own kept
            os.environ[name] = str(Path(config._liveengine_user) / name.split("_")[1].lower())
    os.environ["LIVEENGINE_TESTS_USER_FOLDERS"] = "1"


def pytest_unconfigure(config):
    import shutil

    if getattr(config, "_liveengine_user", None):
        shutil.rmtree(config._liveengine_user, ignore_errors=True)


@pytest.fixture(scope="session")
def jack_server():
    """One JACK dummy server for the session; audio servers (their own processes) and every client use it.

    The test process itself never loads PortAudio: only audio server processes do, each
    naming its JACK client `liveengine`.
    """
    from liveengine.testing.jack_rig import start_jackd

    server = start_jackd(TEST_JACK_SERVER)
    os.environ["JACK_DEFAULT_SERVER"] = server.name
    os.environ["JACK_NO_START_SERVER"] = "1"
    yield server
    server.stop()


@pytest.fixture
def engines():
    """Make started engines on offline backends; stop them and undo Engine.start's interpreter tweaks after."""
    from liveengine.audio.offline import OfflineBackend
    from liveengine.engine import Engine
    from liveengine.patch import load_patch

    made = []
    switch = sys.getswitchinterval()

    def make(patch_path: Path, options=None):
        engine = Engine(load_patch(patch_path), options)
        made.append(engine)
        assert engine.wait_rendered(timeout=60)
        o = engine.options
        backend = OfflineBackend(o.samplerate, o.blocksize, o.channels)
        engine.start(backend)
        return engine, backend

    yield make
    for engine in made:
        engine.stop()
    sys.setswitchinterval(switch)
    gc.unfreeze()
