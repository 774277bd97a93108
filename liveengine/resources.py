"""Where the shipped patches and models are, installed or in a source checkout."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def _bundled(name: str) -> Path:
    installed = _PACKAGE / "_bundled" / name  # a wheel carries them here (see pyproject.toml)
    return installed if installed.is_dir() else _PACKAGE.parent / name


def patches_dir() -> Path:
    return _bundled("patches")


def models_dir() -> Path:
    return _bundled("models_onnx")



def library_dir() -> Path:
    """Where captures go: LIVEENGINE_LIBRARY, else the platform's music folder (platformdirs) / liveengine."""
    import os

    import platformdirs

    override = os.environ.get("LIVEENGINE_LIBRARY")
    return Path(override).expanduser() if override else platformdirs.user_music_path() / "liveengine"


def state_dir() -> Path:
    """Where live state is saved: LIVEENGINE_STATE, else the platform's per-user state folder (platformdirs)."""
    import os

    import platformdirs

    override = os.environ.get("LIVEENGINE_STATE")
    return Path(override).expanduser() if override else platformdirs.user_state_path("liveengine")
