"""The performance's memory: the live state (mapping, grid parameters, variation counts, captures),
saved atomically and restored, the captured sounds, and the debounced autosave. Control threads only."""

from __future__ import annotations

import itertools
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING

from liveengine.errors import LiveEngineError
from liveengine.grid.anchors import build_mapping
from liveengine.resources import library_dir, state_dir
from liveengine.state import keep_last_session, load_state, save_state as write_state

if TYPE_CHECKING:
    from liveengine.engine.engine import Engine

SETTING_KEYS = ("center_x", "center_y", "zoom", "rotation", "variance", "seed")


def state(engine: "Engine") -> dict:
    instrument = engine.instrument
    with engine.control:
        setting = instrument.setting
        return {
            "model_hash": instrument.decoder.identity,
            "patch": str(instrument.patch.path) if instrument.patch.path else None,
            "patch_name": instrument.patch.name,
            "setting": {k: getattr(setting, k) for k in ("mapping", *SETTING_KEYS)},
            "variation_counts": list(instrument.variation_counts),
            "captures": list(engine.captures),
        }


def save_state(engine: "Engine", name: str = "autosave", folder: Path | None = None) -> Path:
    """Save the live state atomically as NAME.json in the state folder; returns the path."""
    folder = folder or state_dir()
    try:
        now = state(engine)
        if name == engine.autosave and engine.keep_last_session:  # this session's first autosave goes over the last one's
            engine.keep_last_session = False
            kept = keep_last_session(folder, name, now)
            if kept:
                engine.report(f"the last session's state is kept as '{kept}' (play --resume {kept} goes on from it)")
        return write_state(folder / f"{name}.json", now)
    except OSError as exc:
        raise LiveEngineError(f"cannot save the state into {folder}: {exc.strerror or exc}; the previous state file is kept.",
                              "Set LIVEENGINE_STATE to a folder you can write to.") from None


def restore_state(engine: "Engine", path: Path) -> None:
    """Apply a saved state (mapping, parameters, variation counts, captures). Errors leave everything as it was."""
    instrument = engine.instrument
    info = getattr(instrument.decoder, "info", None)  # a model folder's decoder; the test synth has none
    saved_state = load_state(path, instrument.decoder.identity, getattr(info, "earlier_identities", ()))
    try:
        saved = saved_state["setting"]
        setting = instrument.setting
        for key in SETTING_KEYS:
            setting = setting.with_param(key, saved[key])
        counts = [int(c) for c in saved_state["variation_counts"]]
        captures = list(saved_state.get("captures", []))
        mapping_name = str(saved["mapping"])
    except (KeyError, TypeError, ValueError) as exc:
        raise LiveEngineError(f"state file {path} is missing or has a bad value for {exc}; it cannot be restored.") from None
    if len(counts) != setting.pads:
        raise LiveEngineError(f"state file {path} is for a grid of {len(counts)} pads; this patch has {setting.pads}.")
    with engine.control:
        mapping = instrument.mappings.get(mapping_name) or build_mapping(mapping_name, instrument.decoder, instrument.patch, setting)
        instrument.mappings[mapping_name] = mapping
        instrument.mapping = mapping
        instrument.setting = setting.with_mapping(mapping_name)
        instrument.variation_counts = counts
        engine.captures = captures
        instrument.render(engine.player.last_pad)
    engine.report(f"state restored from {path}")


def capture(engine: "Engine", folder: Path | None = None) -> Path:
    """Keep the sound heard last (after variance and expression): WAV + JSON (latent point, model, state) in the library folder."""
    import soundfile

    hit, sound = engine.player.last_heard, engine.player.last_sound
    if hit is None or sound is None:
        raise LiveEngineError("nothing has been played yet: capture keeps the sound heard last.")
    folder = folder or library_dir()
    live = state(engine)
    entry = {"point": None if hit.point is None else [float(v) for v in hit.point], "pad": hit.pad,
             "kind": hit.kind, "description": hit.description.as_dict() if hit.description else None}
    samplerate = engine.options.samplerate
    try:
        folder.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        for n in itertools.count(1):
            wav = folder / f"capture-{stamp}-{n}.wav"
            if not wav.exists():
                break
        entry["file"] = wav.name
        soundfile.write(wav, sound.samples, samplerate, subtype="FLOAT")
        sidecar = {**entry, "model_hash": live["model_hash"], "patch": live["patch"], "setting": live["setting"], "samplerate": samplerate}
        wav.with_suffix(".json").write_text(json.dumps(sidecar, indent=1))
    except OSError as exc:
        raise LiveEngineError(f"cannot write the capture into {folder}: {exc.strerror or exc}.",
                              "Set LIVEENGINE_LIBRARY to a folder you can write to.") from None
    with engine.control:
        engine.captures.append({**entry, "path": str(wav)})
    engine.changed.set()
    engine.report(f"captured {wav}")
    return wav


def autosave_tick(engine: "Engine", changed_at: float | None) -> float | None:
    """Debounced autosave, called by the supervisor: the first quiet `autosave_delay` seconds after a
    change write the state once (a knob sweep writes once). Returns when the pending change was seen."""
    if engine.autosave is None:
        return None
    now = time.monotonic()
    if engine.changed.is_set():
        engine.changed.clear()
        return now
    if changed_at is not None and now - changed_at >= engine.autosave_delay:
        try:
            save_state(engine, engine.autosave)
        except (OSError, LiveEngineError) as exc:
            engine.report(f"autosave failed (the previous state file is kept): {exc}")
        return None
    return changed_at
