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

