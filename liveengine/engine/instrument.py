"""What a patch loads: decoder, grid setting, mappings, pad cache and render workers, built off the
audio thread and swapped as a whole (a failed load leaves the old one playing); and the lookups
that check a command against it (pad on the grid, choke group, latent size)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from liveengine.decoders.base import Decoder
from liveengine.decoders.registry import load_decoder
from liveengine.errors import LiveEngineError
from liveengine.grid.anchors import build_mapping, pad_points, patch_setting
from liveengine.grid.mappings import GridSetting, variation
from liveengine.options import EngineOptions
from liveengine.patch import Patch
from liveengine.render.on_demand import EXACT_CACHE, OnDemandRenderer
from liveengine.render.pad_cache import PadCache
from liveengine.render.probe import Trial, probe, refuse
from liveengine.render.process_workers import ProcessRenderWorkers
from liveengine.render.workers import BATCH, RenderWorkers, lower_thread_priority
from liveengine.server.layout import MAX_PADS, Layout
from liveengine.server.pool import SamplePool

GRID_PARAMS = ("center_x", "center_y", "zoom", "rotation", "variance", "seed")


def patch_decoder(patch: Patch) -> Decoder:
    return load_decoder(patch.model, patch.path, **patch.model_options)


def loaded_decoder(patch: Patch, playing: Instrument) -> Decoder | None:
    """The playing decoder, where `patch` names the same model folder with the same options and the folder's files
    are still the ones it loaded (their hash, 30 ms for the drum model): a switch between patches of one model then
    loads nothing again (a trial load in a child process and the load itself, 2.9 to 3.6 s for the drum model). None
    otherwise: a model re-exported into its folder since is loaded afresh."""
    from liveengine.decoders.contract import model_identity
    from liveengine.decoders.registry import find_model

    decoder = playing.decoder
    loaded_from = getattr(decoder, "folder", None)
    if loaded_from is None or patch.model_options != playing.patch.model_options:
        return None
    try:
        folder = find_model(patch.model, patch.path)
    except LiveEngineError:  # the load that follows says why, in its own words
        return None
    if folder is None or folder.resolve() != Path(loaded_from).resolve():
        return None
    return decoder if model_identity(folder) == decoder.identity else None


def server_layout(options: EngineOptions, patch: Patch, decoder: Decoder) -> Layout:
    """Shared-memory sizes for this engine: pool slots for two sounds a pad (and as many being
    replaced), the exact-point cache, and headroom; slots as long as this model's sounds can be."""
    pads = min(MAX_PADS, patch.grid["rows"] * patch.grid["cols"])
    seconds = min(patch.engine["max_seconds"], decoder.output_length / decoder.sample_rate)
    slot_frames = int(seconds * options.samplerate * 1.01) + 256
    return Layout(fifo_capacity=options.queue_capacity, slots=4 * pads + EXACT_CACHE + 64, slot_frames=slot_frames,
                  record_frames=int(options.record_seconds_buffered * options.samplerate), channels=options.channels)


@dataclass
class Instrument:
    """Everything a patch loads. Fields change under the engine's control lock only."""

    patch: Patch
    decoder: Decoder
    setting: GridSetting
    mapping: object  # a mapping from grid/mappings.py
    cache: PadCache
    workers: RenderWorkers | ProcessRenderWorkers
    on_demand: OnDemandRenderer
    choke_of_pad: dict[int, int] = field(default_factory=dict)
    choke_groups: dict[str, int] = field(default_factory=dict)
    mappings: dict[str, object] = field(default_factory=dict)  # built once per patch, by name
    pad_points: np.ndarray | None = None  # float32[pads, latent_dim] for the current setting
    variation_counts: list[int] = field(default_factory=list)  # per pad: variations played so far
    corners_built: threading.Event | None = None  # set when prebuild_corners' thread is done

    @property
    def variation_scale(self) -> float:
        spreads = getattr(getattr(self.decoder, "info", None), "latent_spreads", None)
        return float(np.mean(spreads)) if spreads else 1.0

    # ---- rendering ----
    def render(self, first: int | None = None) -> None:
        """Start rendering the current setting: every pad (`first` first), then with variance each pad's next variation."""
        setting = self.setting
        points = pad_points(setting, self.mapping)
        self.pad_points = points
        if setting.variance > 0:
            points = np.concatenate([points, np.stack([self.variation_point(pad) for pad in range(setting.pads)])])
        self.workers.render_all(points, first=first if first is not None and first < setting.pads else None,
                                cols=setting.cols, pads=setting.pads)

    def variation_point(self, pad: int) -> np.ndarray:
        setting = self.setting
        return variation(self.pad_points[pad], setting.variance, setting.seed, pad, self.variation_counts[pad], self.variation_scale)

    def mapping_named(self, name: str):
        """The named mapping, built once (under the control lock) and kept: switching back is instant.
        LiveEngineError when the patch cannot build it (no anchors, no library)."""
        if name == "corners" and self.corners_built is not None:
            self.corners_built.wait(60.0)  # being fitted on its own thread: wait for it rather than fit twice
        mapping = self.mappings.get(name)
        if mapping is None:
            mapping = build_mapping(name, self.decoder, self.patch, self.setting)
            self.mappings[name] = mapping
        return mapping

    def prebuild_corners(self) -> None:
        """Start building the corners mapping on a thread of its own, when the patch names corner files and the model
        encodes them (a second or so to fit them, grid/anchors.place_sounds, after the encoder's first load, 1.2 s for
        drums19, and its trial in a child): switching to it live then finds it built, not under the control lock. An
        error is left for the switch to report; two builds of it give the same points."""
        if "corners" in self.mappings or not getattr(self.decoder, "can_encode", False):
            return
        if not any(isinstance(entry, str) for entry in self.patch.grid.get("corners") or []):
            return

        done = self.corners_built = threading.Event()

        def build() -> None:
            lower_thread_priority()  # below the audio thread and the on-demand renderer, as pad rendering is
            try:
                self.mappings.setdefault("corners", build_mapping("corners", self.decoder, self.patch, self.setting))
            except Exception:  # noqa: BLE001 - reported by mapping_named when the performer switches to it
                pass
            finally:
                done.set()
        threading.Thread(target=build, name="corners fit", daemon=True).start()

    def retire(self) -> None:
        self.workers.stop()
        self.on_demand.stop()

    # ---- checking a command against the patch ----
    def pad(self, row: int, col: int) -> int:
        setting = self.setting
        if not (0 <= row < setting.rows and 0 <= col < setting.cols):
            raise LiveEngineError(f"pad ({row}, {col}) is outside the {setting.rows}x{setting.cols} grid; rows 0..{setting.rows - 1}, columns 0..{setting.cols - 1}.")
        return setting.pad_index(row, col)

    def nearest_pad(self, point: np.ndarray) -> int:
        return int(np.argmin(np.sum((self.pad_points - point) ** 2, axis=1)))

    def latent_size(self, args: tuple) -> tuple[int, float]:
        """(latent size, velocity) of /latent arguments, checked against the model."""
        dim = self.decoder.latent_dim
        if len(args) not in (dim, dim + 1):
            raise LiveEngineError(f"/latent got {len(args)} values; this model's latent points have {dim}: /latent v1 .. v{dim} [velocity].")
        velocity = args[dim] if len(args) > dim else 1.0
        if not 0.0 <= velocity <= 1.0:
            raise LiveEngineError(f"/latent velocity is {velocity!r}; expected a number from 0 to 1.")
        return dim, velocity

    def mix_pads(self, args: tuple) -> tuple[np.ndarray, list[int]]:
        """(weights, pad indices) of /mix arguments' (weight, row, col) triples, pads checked against the grid."""
        triples = [args[i : i + 3] for i in range(0, len(args) - len(args) % 3, 3)]
        pads = [self.pad(int(row), int(col)) for _, row, col in triples]
        return np.array([w for w, _, _ in triples], np.float64), pads

    def choke_group(self, name: str) -> int:
        group = self.choke_groups.get(name)
        if group is None:
            raise LiveEngineError(f"/choke group {name!r} is not in the patch; groups: {', '.join(self.choke_groups) or 'none'}.")
        return group


def build_instrument(patch: Patch, decoder: Decoder, pool: SamplePool, samplerate: int,
                     play_rendered: Callable, on_error: Callable[[Exception], None], first_pad: int | None = None) -> Instrument:
    """Build a patch's instrument and start rendering it; LiveEngineError if its model is refused:
    it must render a sound across the grid in time for max_grid_render_s (render/probe.py)."""
    setting = patch_setting(patch)
    mappings = {setting.mapping: build_mapping(setting.mapping, decoder, patch, setting)}
    cache = PadCache(setting.pads, pool)
    trial = Trial.of_grid(pad_points(setting, mappings[setting.mapping]), setting.cols, patch.engine["max_grid_render_s"])
    own_process = patch.engine["render_in"] == "process"
    if own_process:
        # A model's preferred_batch keeps an audio callback in the same process on time; a render
        # process has none beside it, so it decodes in the batches that are fastest per pad.
        workers = ProcessRenderWorkers(patch.model, patch.path, patch.model_options, BATCH,
                                       cache, samplerate, patch.engine["max_seconds"], on_error, trial)
    else:
        refuse(patch.model, probe(decoder, trial, samplerate, patch.engine["max_seconds"]))
        workers = RenderWorkers(decoder, cache, samplerate, threads=patch.engine["render_threads"],
                                max_seconds=patch.engine["max_seconds"], on_error=on_error)
        decoder.prepare(8)  # after the probe: a model too slow for the grid is refused before its warm-up
    # With pads in a render process this process's decoder renders only between-pad hits, one at a
    # time: the on-demand renderer warms it up on its own thread while the grid renders, once the
    # model has passed its trial.
    on_demand = OnDemandRenderer(decoder, samplerate, patch.engine["max_seconds"], patch.engine["on_demand_deadline_ms"] / 1000.0,
                                 play_rendered, on_error, adopt=pool.adopt, warm_up=not own_process)
    groups = {name: i for i, name in enumerate(patch.choke)}
    choke_of_pad = {setting.pad_index(r, c): groups[name] for name, pads in patch.choke.items() for r, c in pads}
    instrument = Instrument(patch, decoder, setting, mappings[setting.mapping], cache, workers, on_demand, choke_of_pad, groups,
                            mappings, variation_counts=[0] * setting.pads)
    instrument.render(first_pad)  # a render process takes it the moment its trial passes
    if own_process:
        try:
            workers.await_verdict()
        except LiveEngineError:
            instrument.retire()
            raise
        on_demand.warm_up()
    instrument.prebuild_corners()
    return instrument
