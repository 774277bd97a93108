"""The suite never writes into the tester's own user folders: they point at a temporary folder already while test
modules are imported, so an environment a module copies for its subprocesses at import carries them too."""

import os
import tempfile
from pathlib import Path

AT_IMPORT = dict(os.environ)  # as a module that builds its subprocesses' environment at import time sees it


def test_user_folders_are_temporary_already_when_test_modules_are_imported():
    for name in ("LIVEENGINE_LIBRARY", "LIVEENGINE_STATE", "LIVEENGINE_CACHE", "LIVEENGINE_USER_PATCHES"):
        assert name in AT_IMPORT, name
        folder = Path(AT_IMPORT[name]).resolve()
        assert folder.is_relative_to(Path(tempfile.gettempdir()).resolve()) and not folder.is_relative_to(Path.home().resolve()), folder
