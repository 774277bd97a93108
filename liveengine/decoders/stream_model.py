"""Stream models (liveengine.kind = "stream", docs/model-contract.md): pitch, loudness and a timbre
point in, synthesis controls out, one block of frames at a time with the recurrent state carried
explicitly in and out (the shape of silero-vad's and icefall's streaming exports).

Checked at load like the other kinds: metadata, the graph's inputs and outputs, and two runs from the
zero state (one frame, then three) whose outputs must have the declared shapes and be finite. Every
failure is one ModelError naming the model, what was found and what the contract expects.

While playing, a block whose outputs hold NaN or infinity is silenced, the state goes back to zeros
and both are counted (`nan_frames`, `resets`): one bad frame never poisons the frames after it.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from liveengine.decoders.contract import PREFIX, ModelError, _shown, kind_metadata, model_identity
from liveengine.decoders.onnx_decoder import _check_io, _runtime_reason, _session

STREAM_REQUIRED = ("contract", "kind", "sample_rate", "frame_rate", "harmonics", "noise_bands", "band_edges_hz", "state_size",
                   "f0_range_hz", "loudness_range_db")
STREAM_INPUTS = ("f0_hz", "loudness_db", "z", "state")
STREAM_OUTPUTS = ("amplitude", "harmonics", "noise", "state_out")
BOUND_FRAMES = 8  # calls of up to this many frames run on arrays bound once (StreamModel._binding); longer ones allocate


@dataclass(frozen=True)
class StreamInfo:
    folder: Path
    name: str
    sample_rate: int  # the rate it was trained at; its controls are in Hz and linear units, so it plays at any rate
    frame_rate: int  # frames per second
    harmonics: int
    noise_bands: int
    band_edges_hz: tuple[float, ...]  # noise_bands + 1, rising
    state_size: int
    f0_range_hz: tuple[float, float]
    loudness_range_db: tuple[float, float]
    points: dict = field(default_factory=dict)  # instrument name -> (x, y) in z
    description: str = ""
    identity: str = ""

    def hop(self, sample_rate: int) -> int:
        """Samples per frame at the server's rate (44.1 kHz at 200 frames/s: 220, 0.2% faster frames than declared)."""
        return max(1, round(sample_rate / self.frame_rate))


def read_stream_metadata(folder: Path, props: dict[str, str]) -> StreamInfo:
    """Check a stream decoder's metadata_props against the contract and return them typed."""
    where, meta, integer = kind_metadata(folder, props, "stream", STREAM_REQUIRED, "[stream] model")

    def parsed(key: str):
        try:
            return json.loads(meta[key])
        except ValueError:
            raise ModelError(f"{where}: metadata {PREFIX}{key} = {_shown(meta[key])} is not JSON; see docs/model-contract.md.") from None

    def rising(key: str, length: int | None, what: str) -> tuple[float, ...]:
        value = parsed(key)
        ok = isinstance(value, list) and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value)
        if not ok or (length is not None and len(value) != length) or any(b <= a for a, b in zip(value, value[1:])):
            raise ModelError(f"{where}: metadata {PREFIX}{key} = {_shown(meta[key])}; expected {what}.")
        return tuple(float(v) for v in value)

    sample_rate = integer("sample_rate", 8000, 192000)
    frame_rate = integer("frame_rate", 10, 2000)
    harmonics = integer("harmonics", 1, 512)
    noise_bands = integer("noise_bands", 1, 256)
    state_size = integer("state_size", 1, 1 << 20)
    edges = rising("band_edges_hz", noise_bands + 1, f"a JSON list of {noise_bands + 1} rising frequencies in Hz (noise_bands + 1)")
    if edges[0] < 0:
        raise ModelError(f"{where}: metadata {PREFIX}band_edges_hz starts at {edges[0]:g} Hz; expected 0 Hz or more.")
    f0_range = rising("f0_range_hz", 2, "a JSON list [low, high] of frequencies in Hz, low below high")
    if f0_range[0] <= 0:
        raise ModelError(f"{where}: metadata {PREFIX}f0_range_hz starts at {f0_range[0]:g} Hz; expected a low end above 0 Hz.")
    loudness_range = rising("loudness_range_db", 2, "a JSON list [low, high] in dB, low below high")
    points: dict = {}
    if "points" in meta:
        value = parsed("points")
        if not isinstance(value, dict) or not all(
                isinstance(p, list) and len(p) == 2 and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in p)
                for p in value.values()):
            raise ModelError(f"{where}: metadata {PREFIX}points = {_shown(meta['points'])}; expected a JSON object of name: [x, y].")
        points = {str(k): (float(p[0]), float(p[1])) for k, p in value.items()}
    return StreamInfo(folder=folder, name=meta.get("name", folder.name), sample_rate=sample_rate, frame_rate=frame_rate,
                      harmonics=harmonics, noise_bands=noise_bands, band_edges_hz=edges, state_size=state_size,
                      f0_range_hz=f0_range, loudness_range_db=loudness_range, points=points,
                      description=meta.get("description", ""), identity=model_identity(folder))


class StreamModel:
    """A stream model folder. Not thread-safe: one producer owns it (liveengine/stream/producer.py).

    `run(f0_hz, loudness_db, z)` takes a block of T frames and returns the synthesis controls;
    the state carries over to the next call, so T calls of one frame give what one call of T gives.
    """

    def __init__(self, folder: Path, threads: int = 1) -> None:
        folder = Path(folder)
        where = f"model {folder.name}"
        self.where = where
        if not folder.is_dir():
            raise ModelError(f"{where}: {folder} is not a folder; a model is a folder with decoder.onnx in it.")
        self.session = _session(folder / "decoder.onnx", threads, where)
        try:
            props = self.session.get_modelmeta().custom_metadata_map
        except UnicodeDecodeError:
            raise ModelError(f"{where}: decoder.onnx's metadata is not UTF-8 text, so the file is damaged; "
                             "expected the liveengine.* keys of docs/model-contract.md.", "Copy or export the model again.") from None
        self.info = info = read_stream_metadata(folder, props)
        self.name, self.identity = info.name, info.identity
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        names = sorted(i.name for i in inputs)
        if names != sorted(STREAM_INPUTS):
            raise ModelError(f"{where}: decoder.onnx inputs {names}; a stream decoder takes {', '.join(repr(n) for n in STREAM_INPUTS)}.")
        ranks = {"f0_hz": (2, {0: 1}), "loudness_db": (2, {0: 1}), "z": (3, {0: 1, 2: 2}), "state": (2, {0: 1, 1: info.state_size})}
        for got in inputs:
            _check_io(where, "decoder input", got, got.name, *ranks[got.name])
        names = sorted(o.name for o in outputs)
        if names != sorted(STREAM_OUTPUTS):
            lacking = [n for n in STREAM_OUTPUTS if n not in names]
            raise ModelError(f"{where}: decoder.onnx outputs {names}{' (lacks ' + ', '.join(lacking) + ')' if lacking else ''}; "
                             f"a stream decoder outputs {', '.join(repr(n) for n in STREAM_OUTPUTS)}.")
        widths = {"amplitude": 1, "harmonics": info.harmonics, "noise": info.noise_bands}
        for got in outputs:
            if got.name == "state_out":
                _check_io(where, "decoder output", got, got.name, 2, {0: 1, 1: info.state_size})
            else:
                _check_io(where, "decoder output", got, got.name, 3, {0: 1, 2: widths[got.name]})
        self.state = np.zeros((1, info.state_size), np.float32)
        self._f0_low, self._f0_high = (np.float32(v) for v in info.f0_range_hz)
        self._db_low, self._db_high = (np.float32(v) for v in info.loudness_range_db)
        self._names = list(STREAM_OUTPUTS)
        self.nan_frames = 0  # frames silenced because the model gave NaN or infinity
        self.resets = 0  # state resets after such a block
        self.frames = 0
        self._check_from_zero()
        self._bound: dict[int, tuple] = {}  # frames per call -> (binding, its input and output arrays)
        self.reset()

    def reset(self) -> None:
        """State back to zeros: at load, on panic, after a NaN (never per note)."""
        self.state[...] = 0.0

    def _failed(self, exc: BaseException) -> ModelError:
        return ModelError(f"{self.where}: decoder.onnx failed to run with state [1, {self.info.state_size}] "
                          f"(state_size) ({_runtime_reason(exc)}).")

    def _run(self, f0: np.ndarray, loudness: np.ndarray, z: np.ndarray) -> list[np.ndarray]:
        try:
            return self.session.run(self._names, {"f0_hz": f0, "loudness_db": loudness, "z": z, "state": self.state})
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises several types; one clause for the report
            raise self._failed(exc) from None

    def _binding(self, frames: int) -> tuple:
        """The session bound to arrays of its own for calls of `frames` frames: inputs are copied in, outputs written in
        place, nothing allocated per call. The state input is `self.state` itself; `state_out` goes to a second array,
        copied back."""
        bound = self._bound.get(frames)
        if bound is None:
            info = self.info
            arrays = {"f0_hz": np.zeros((1, frames), np.float32), "loudness_db": np.zeros((1, frames), np.float32),
                      "z": np.zeros((1, frames, 2), np.float32), "state": self.state,
                      "amplitude": np.zeros((1, frames, 1), np.float32), "harmonics": np.zeros((1, frames, info.harmonics), np.float32),
                      "noise": np.zeros((1, frames, info.noise_bands), np.float32), "state_out": np.zeros_like(self.state)}
            binding = self.session.io_binding()
            for name, array in arrays.items():
                bind = binding.bind_input if name in STREAM_INPUTS else binding.bind_output
                bind(name, "cpu", 0, np.float32, list(array.shape), array.ctypes.data)
            bound = self._bound[frames] = (binding, arrays)
        return bound

    def _check_from_zero(self) -> None:
        info = self.info
        mid_f0 = math.sqrt(info.f0_range_hz[0] * info.f0_range_hz[1])
        mid_db = 0.5 * (info.loudness_range_db[0] + info.loudness_range_db[1])
        for frames in (1, 3):
            self.reset()
            out = self._run(np.full((1, frames), mid_f0, np.float32), np.full((1, frames), mid_db, np.float32),
                            np.zeros((1, frames, 2), np.float32))
            expected = {"amplitude": (1, frames, 1), "harmonics": (1, frames, info.harmonics), "noise": (1, frames, info.noise_bands),
                        "state_out": (1, info.state_size)}
            for name, value in zip(STREAM_OUTPUTS, out):
                if tuple(value.shape) != expected[name]:
                    raise ModelError(f"{self.where}: decoder output {name!r} has shape {list(value.shape)} for {frames} frame(s); "
                                     f"expected {list(expected[name])} (from the metadata).")
                if not np.all(np.isfinite(value)):
                    raise ModelError(f"{self.where}: decoder output {name!r} holds NaN or infinity from the zero state at the middle of "
                                     "the declared pitch and loudness ranges; expected finite numbers.")

    def run(self, f0_hz: np.ndarray, loudness_db: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """f0_hz [T] (Hz), loudness_db [T] (dB), z [T, 2] -> amplitude [T], harmonics [T, H], noise [T, B] (float32, >= 0).

        Pitch and loudness are clipped into the declared ranges first. A block with NaN or infinity
        in any output comes back as zeros (silence), with the state reset and counted.
        """
        info = self.info
        frames = len(f0_hz)
        # fmax/fmin rather than clip: NaN becomes the range's low end on the way
        f0 = np.fmin(np.fmax(np.asarray(f0_hz, np.float32).reshape(1, frames), self._f0_low), self._f0_high)
        loudness = np.fmin(np.fmax(np.asarray(loudness_db, np.float32).reshape(1, frames), self._db_low), self._db_high)
        zz = np.asarray(z, np.float32).reshape(1, frames, 2)
        if not math.isfinite(float(zz.sum())):
            zz = np.nan_to_num(zz, nan=0.0, posinf=0.0, neginf=0.0)
        if frames <= BOUND_FRAMES:
            binding, arrays = self._binding(frames)
            arrays["f0_hz"][...] = f0
            arrays["loudness_db"][...] = loudness
            arrays["z"][...] = zz
            try:
                self.session.run_with_iobinding(binding)
            except Exception as exc:  # noqa: BLE001 - as in _run
                raise self._failed(exc) from None
            amplitude, harmonics, noise, state = (arrays[name] for name in STREAM_OUTPUTS)
        else:
            amplitude, harmonics, noise, state = self._run(f0, loudness, zz)
        self.frames += frames
        # one sum instead of four scans: NaN or infinity anywhere makes it non-finite (as would finite values
        # near float32's limit, which are no sound either)
        if not math.isfinite(float(amplitude.sum()) + float(harmonics.sum()) + float(noise.sum()) + float(state.sum())):
            self.nan_frames += frames
            self.resets += 1
            self.reset()
            return (np.zeros(frames, np.float32), np.zeros((frames, info.harmonics), np.float32),
                    np.zeros((frames, info.noise_bands), np.float32))
        self.state[...] = state
        return (np.maximum(amplitude.reshape(frames), 0.0), np.maximum(harmonics[0], 0.0), np.maximum(noise[0], 0.0))
