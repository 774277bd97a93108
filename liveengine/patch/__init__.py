"""Patch files: schema and loading."""
from liveengine.patch.loader import Patch, load_patch, resolve_patch

__all__ = ["Patch", "load_patch", "resolve_patch"]
