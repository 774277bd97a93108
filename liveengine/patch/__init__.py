"""Patch files: schema and loading."""
from liveengine.patch.loader import Patch, find_patch, load_patch, resolve_patch

__all__ = ["Patch", "find_patch", "load_patch", "resolve_patch"]
