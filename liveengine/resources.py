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


def default_model() -> Path:
    """The model folder the default patch plays (its [engine] decoder): what the benchmarks measure unless told otherwise."""
    from liveengine.patch import load_patch  # here, not at the top: the patch loader itself asks this module for folders

    return models_dir() / load_patch(patches_dir() / "default.toml").model


def checkpoints_dir() -> Path:
    """The shipped training checkpoints (`liveengine train` fine-tunes checkpoints/drums5.pt)."""
    return _bundled("checkpoints")



def _user_folder(variable: str, kind: str, below: str = "") -> Path:
    """$variable if set, else the platform's per-user folder of this kind (platformdirs) / liveengine [/ below]."""
    import os

    import platformdirs

    override = os.environ.get(variable)
    if override:
        return Path(override).expanduser()
    base = {"music": lambda: platformdirs.user_music_path() / "liveengine",
            "state": lambda: platformdirs.user_state_path("liveengine"),
            "config": lambda: platformdirs.user_config_path("liveengine"),
            "cache": lambda: platformdirs.user_cache_path("liveengine", appauthor=False)}[kind]()
    return base / below if below else base


def library_dir() -> Path:
    """Where captures go: LIVEENGINE_LIBRARY, else the platform's music folder / liveengine."""
    return _user_folder("LIVEENGINE_LIBRARY", "music")


def state_dir() -> Path:
    """Where live state is saved: LIVEENGINE_STATE, else the platform's per-user state folder."""
    return _user_folder("LIVEENGINE_STATE", "state")


def user_patches_dir() -> Path:
    """Where MIDI learn writes copies of shipped patches: LIVEENGINE_USER_PATCHES, else the user config folder."""
    return _user_folder("LIVEENGINE_USER_PATCHES", "config", "patches")


def user_profiles_dir() -> Path:
    """A user's own MIDI controller profiles: LIVEENGINE_MIDI_PROFILES, else the user config folder."""
    return _user_folder("LIVEENGINE_MIDI_PROFILES", "config", "midi-profiles")


def cache_dir() -> Path:
    """Caches (the find-similar index): LIVEENGINE_CACHE, else the platform's user cache folder."""
    return _user_folder("LIVEENGINE_CACHE", "cache")
