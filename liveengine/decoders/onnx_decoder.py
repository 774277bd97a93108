"""ONNX one-shot decoders on the CPU: validated at load, warmed up, batched, written into preallocated buffers."""

from __future__ import annotations

import hashlib
import re
import threading
from pathlib import Path

import numpy as np

from liveengine.decoders.base import SILENCE
from liveengine.decoders.contract import ModelError, ModelInfo, read_metadata
from liveengine.decoders.istft import InverseSTFT
from liveengine.errors import LiveEngineError

NORMALIZE = ("peak", "loudness", "none")
PEAK_TARGET = 0.9  # -0.9 dBFS
LOUDNESS_TARGET = 10 ** (-18 / 20)  # RMS over the whole output, then peak-limited to 0.99
MAX_GAIN = 100.0  # +40 dB at most: a near-silent latent point stays quiet rather than becoming loud noise
# Sounds per encoder run: an encoder that checks its guess (training/descent.py) holds its gradients' intermediates per
# sound (drums16: 40 to 60 MB each), so a library of 1,000 sounds in one run would take gigabytes; 2 a run costs no speed.
ENCODE_ROWS = 2


def _session(path: Path, threads: int, where: str, basic: bool = False):
    """An onnxruntime session of one graph. `basic` for an encoder: the basic graph optimisations alone, without
    constant folding. One that descends through the decoder (drums16's) computes its DFT bases in the graph: folding
    them took 250 MB at load for no speed, and the optimisations beyond the basic ones 1.3 s of its 2.5 s load, for
    none either (0.31 s for two sounds both ways)."""
    import onnxruntime as ort

    if not path.is_file():
        raise ModelError(f"{where}: {path.name} is missing from {path.parent}; a model folder holds decoder.onnx "
                         "(and optionally encoder.onnx, classifier.onnx).")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 4  # fatal only: a failed run is raised and reported by us, in one sentence
    if basic:
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    try:
        return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"],
                                    disabled_optimizers=["ConstantFolding"] if basic else [])
    except Exception as exc:  # onnxruntime raises several types for unreadable graphs
        raise ModelError(f"{where}: {path.name} is not a loadable ONNX model ({type(exc).__name__}: {str(exc)[:200]}).") from None


def _runtime_reason(exc: BaseException) -> str:
    """onnxruntime's multi-line failure as one short clause (its output-shape mismatch named plainly)."""
    text = " ".join(str(exc).split())
    shape = re.search(r"has shape (\{[^}]*\}) but the computed output shape for this run is (\{[^}]*\})", text)
    if shape:
        return f"its output has shape {shape.group(2)} here, not {shape.group(1)}"
    return f"{type(exc).__name__}: {text[:160]}"


def _check_io(where: str, name: str, got, expected_name: str, rank: int, dims: dict[int, int]) -> None:
    """`dims`: axis -> required size; other axes must be dynamic or any size."""
    if got.name != expected_name:
        raise ModelError(f"{where}: {name} is named {got.name!r}; the contract names it {expected_name!r}.")
    if got.type != "tensor(float)":
        raise ModelError(f"{where}: {name} {got.name!r} has type {got.type}; expected tensor(float) (float32).")
    shape = got.shape
    if len(shape) != rank:
        raise ModelError(f"{where}: {name} {got.name!r} has shape {shape}; expected rank {rank}.")
    for axis, size in dims.items():
        if isinstance(shape[axis], int) and shape[axis] != size:
            raise ModelError(f"{where}: {name} {got.name!r} has shape {shape}; axis {axis} must be {size} (from the metadata).")


class OnnxDecoder:
    """A model folder meeting docs/model-contract.md. Load errors are ModelError naming the model."""

    def __init__(self, folder: Path, threads: int = 1, normalize: str = "peak", max_batch: int = 16, decode_only: bool = False) -> None:
        """`decode_only`: the decoder and class head alone, for a render process; the engine's own copy loads and
        checks the fit gradient, and the encoder on its first use (`encoder`)."""
        folder = Path(folder)
        where = f"model {folder.name}"
        if not folder.is_dir():
            raise ModelError(f"{where}: {folder} is not a folder; a model is a folder with decoder.onnx in it.")
        if normalize not in NORMALIZE:
            raise ModelError(f"{where}: normalize = {normalize!r}; allowed: {', '.join(NORMALIZE)}.")
        self.session = _session(folder / "decoder.onnx", threads, where)
        try:
            props = self.session.get_modelmeta().custom_metadata_map
        except UnicodeDecodeError:  # a damaged file: onnxruntime loads it, but its strings are not text
            raise ModelError(f"{where}: decoder.onnx's metadata is not UTF-8 text, so the file is damaged; "
                             "expected the liveengine.* keys of docs/model-contract.md.", "Copy or export the model again.") from None
        self.info: ModelInfo = read_metadata(folder, props)
        self.folder = folder
        info = self.info
        self.name = info.name
        self.identity = info.identity
        self.latent_dim = info.latent_dim
        self.sample_rate = info.sample_rate
        self.output_length = info.output_length
        self.normalize = normalize
        self.preferred_batch = 8  # onnxruntime releases the GIL while it runs
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if len(inputs) != 1:
            raise ModelError(f"{where}: decoder.onnx has {len(inputs)} inputs ({', '.join(i.name for i in inputs)}); expected one, 'z'.")
        _check_io(where, "decoder input", inputs[0], "z", 2, {1: info.latent_dim})
        fixed_batch = inputs[0].shape[0] if isinstance(inputs[0].shape[0], int) else None
        self.max_batch = fixed_batch or max_batch
        self._fixed_batch = fixed_batch
        if info.output == "audio":
            if len(outputs) != 1:
                raise ModelError(f"{where}: decoder.onnx has {len(outputs)} outputs; an audio decoder has one, 'audio'.")
            _check_io(where, "decoder output", outputs[0], "audio", 2, {1: info.output_length})
            self.istft = None
        else:
            names = sorted(o.name for o in outputs)
            if names != ["magnitude", "phase"]:
                raise ModelError(f"{where}: decoder.onnx outputs {names}; an STFT decoder outputs 'magnitude' and 'phase'.")
            for output in outputs:
                _check_io(where, "decoder output", output, output.name, 3, {1: info.bins, 2: info.frames})
            self.istft = InverseSTFT(info.n_fft, info.hop, info.frames, info.output_length, self.max_batch)
            self._magnitude = np.zeros((self.max_batch, info.bins, info.frames), np.float32)
            self._phase = np.zeros_like(self._magnitude)
        self._audio = np.zeros((self.max_batch, info.output_length), np.float32)
        # Render workers share one decoder; the buffers above (and the inverse STFT's) are one set.
        self._lock = threading.Lock()
        # encoder.onnx loads and is checked on first use (encode, fit, `encoder`): playing pads never needs it, and a
        # descent encoder's session is most of a model's load (drums19: 1.2 s of its 1.4 s, 56 of its 194 MB).
        self._encoder_path = None if decode_only or not (folder / "encoder.onnx").exists() else folder / "encoder.onnx"
        self._encoder = None
        self._encoder_error: ModelError | None = None  # a failed first load, raised again rather than tried again
        self._encoder_lock = threading.Lock()
        self._threads = threads
        # Called once before encoder.onnx first loads in this process (the engine sets it: a trial load in a child,
        # decoders/trial_load.py, so a file that aborts onnxruntime cannot end a show when a corner file is encoded).
        self.before_encoder_load = None
        self.classifier = self._optional(folder / "classifier.onnx", threads, where, "z", ("probabilities",))
        if self.classifier is not None:
            _check_io(where, "classifier input", self.classifier.get_inputs()[0], "z", 2, {1: info.latent_dim})
        if self.classifier is not None and not info.classes:
            raise ModelError(f"{where}: classifier.onnx is present but the metadata names no liveengine.classes.")
        if self.classifier is not None:
            width = self.classifier.get_outputs()[0].shape[-1]
            if isinstance(width, int) and width != len(info.classes):
                raise ModelError(f"{where}: classifier.onnx gives {width} probabilities; the metadata names {len(info.classes)} classes.")
        self._check_output_at_mean(where)
        self._fit_session = None  # decoder.onnx again, for fit(): made on the first fit
        self._fit_lock = threading.Lock()
        self._fit_istft = threading.local()  # one inverse STFT (and its buffers) per fitting thread, made once
        self.decoder_grad = None if decode_only else self._load_decoder_grad(folder, threads, where)

    def _load_decoder_grad(self, folder: Path, threads: int, where: str):
        """decoder_grad.onnx (optional): the decoder's vector-Jacobian product, for fit(). It must name this decoder.onnx
        by its SHA-256 (metadata liveengine.decoder_sha256, written by the export) and follow the decoder's own
        differences, so a gradient file left from another decoder (even a fine-tune of this one) is refused."""
        path = folder / "decoder_grad.onnx"
        if not path.exists():
            return None
        if self.istft is None:
            raise ModelError(f"{where}: decoder_grad.onnx is for STFT decoders (liveengine.output = \"stft\"); this decoder outputs audio.")
        session = _session(path, threads, where)
        names = [i.name for i in session.get_inputs()]
        if names != ["z", "magnitude_grad", "phase_grad"] or [o.name for o in session.get_outputs()] != ["z_grad"]:
            raise ModelError(f"{where}: decoder_grad.onnx has inputs {names} and outputs {[o.name for o in session.get_outputs()]}; "
                             "expected inputs z, magnitude_grad, phase_grad and one output z_grad.")
        info = self.info
        inputs = session.get_inputs()
        _check_io(where, "decoder_grad input", inputs[0], "z", 2, {1: info.latent_dim})
        for got in inputs[1:]:
            _check_io(where, "decoder_grad input", got, got.name, 3, {1: info.bins, 2: info.frames})
        _check_io(where, "decoder_grad output", session.get_outputs()[0], "z_grad", 2, {1: info.latent_dim})
        if any(isinstance(got.shape[0], int) for got in inputs):
            raise ModelError(f"{where}: decoder_grad.onnx has a fixed batch ({inputs[0].shape[0]}); the contract asks for a dynamic one.")
        named = session.get_modelmeta().custom_metadata_map.get("liveengine.decoder_sha256", "")
        actual = hashlib.sha256((folder / "decoder.onnx").read_bytes()).hexdigest()
        if named != actual:
            raise ModelError(f"{where}: decoder_grad.onnx was exported for another decoder.onnx "
                             f"(its liveengine.decoder_sha256 is {named[:16] or 'missing'}, this decoder's is {actual[:16]}).",
                             "Export it again beside this decoder (python -m liveengine.training.export_grad).")
        # Its gradient along 8 directions against the decoder's own central differences, at the prior's mean. float32
        # differences are noisy (a phase is a running sum), so the test is that they agree as a whole: correlation and
        # slope. A second line behind the hash: a graph that is not this decoder's gradient fails it.
        rng = np.random.default_rng(0)
        z = np.asarray(info.latent_mean or [0.0] * self.latent_dim, np.float32)[None, :]
        directions = rng.standard_normal((8, self.latent_dim)).astype(np.float32)
        weights = [rng.standard_normal((1, info.bins, info.frames)).astype(np.float32) for _ in range(2)]
        step = 1e-2
        points = np.concatenate([z + step * directions, z - step * directions, z])
        magnitude, phase = (np.concatenate(parts) for parts in zip(*(self.decode_stft(points[i:i + self.max_batch])[:2]
                                                                      for i in range(0, len(points), self.max_batch))))
        # log1p keeps the loud bins from swamping the check; its gradient is the decoder's times 1 / (1 + magnitude).
        weighted = (np.sum(weights[0] * np.log1p(magnitude[:16]), axis=(1, 2), dtype=np.float64)
                    + np.sum(weights[1] * phase[:16], axis=(1, 2), dtype=np.float64))
        numeric = (weighted[:8] - weighted[8:]) / (2 * step)
        try:
            (grad,) = session.run(None, {"z": z, "magnitude_grad": weights[0] / (1.0 + magnitude[16:]), "phase_grad": weights[1]})
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises several types
            raise ModelError(f"{where}: decoder_grad.onnx does not run ({_runtime_reason(exc)}).") from None
        analytic = directions.astype(np.float64) @ grad[0].astype(np.float64)
        spread = float(np.std(analytic) * np.std(numeric))
        correlation = float(np.mean((analytic - analytic.mean()) * (numeric - numeric.mean())) / spread) if spread > 0 else 0.0
        slope = float(np.dot(analytic, numeric) / np.dot(analytic, analytic)) if np.any(analytic) else 0.0
        if not (correlation >= 0.9 and 0.8 <= slope <= 1.25):
            raise ModelError(f"{where}: decoder_grad.onnx does not match decoder.onnx: along 8 test directions at the prior's mean "
                             f"its gradients follow the decoder's own differences with correlation {correlation:.2f} and slope {slope:.2f} "
                             "(a match gives at least 0.9, and 0.8 to 1.25).",
                             "Export it again from the decoder's own checkpoint (python -m liveengine.training.export_grad).")
        return session

    def decode_stft(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """An STFT decoder's magnitude, phase and audio for z, before normalisation, from a session of its own: a fit
        never waits on (or delays) the pads' renders, which share decode_into's session and buffers. New arrays."""
        z = np.ascontiguousarray(z, dtype=np.float32)
        with self._fit_lock:
            if self._fit_session is None:
                self._fit_session = _session(self.info.folder / "decoder.onnx", 1, f"model {self.info.folder.name}")
        session = self._fit_session
        batch = len(z)
        if self._fixed_batch and batch < self._fixed_batch:
            z = np.concatenate([z, np.zeros((self._fixed_batch - batch, self.latent_dim), np.float32)])
        try:
            outputs = dict(zip((o.name for o in session.get_outputs()), session.run(None, {"z": z})))
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises several types; one clause for the report
            raise ModelError(f"model {self.info.folder.name}: the decoder failed while fitting ({_runtime_reason(exc)}).") from None
        magnitude, phase = outputs["magnitude"][:batch], outputs["phase"][:batch]
        audio = np.zeros((batch, self.output_length), np.float32)
        istft = getattr(self._fit_istft, "transform", None)
        if istft is None:  # its buffers hold a pass of a few sounds: any batch goes through it
            istft = self._fit_istft.transform = InverseSTFT(self.info.n_fft, self.info.hop, self.info.frames, self.output_length,
                                                            self.max_batch)
        istft(magnitude, phase, audio)
        return magnitude, phase, audio

    @property
    def can_fit(self) -> bool:
        return self.decoder_grad is not None and self.can_encode

    def fit(self, audio: np.ndarray, steps: int | None = None, tether: float | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Latent points whose decoded sounds are nearest `audio` (float32[batch, samples]), by analysis by synthesis
        from the encoder's means, held near them by `tether` (fit.TETHER by default; liveengine/decoders/fit.py):
        (points, distance at the encoder's mean, distance at the point; NaN for a silent row, which keeps the encoder's
        mean). Needs encoder.onnx and decoder_grad.onnx. Any thread but the audio thread; about steps + 1 decodes, on a
        session of its own."""
        from liveengine.decoders import fit

        if not self.can_fit:
            missing = "decoder_grad.onnx" if self.can_encode else "encoder.onnx"
            raise ModelError(f"model {self.info.folder.name}: has no {missing}, so it cannot fit points to sounds; "
                             "a model folder with encoder.onnx and decoder_grad.onnx can (docs/model-contract.md).")
        steps = fit.STEPS if steps is None else steps
        if not isinstance(steps, int) or steps < 0:
            raise ValueError(f"{self.name} fits with steps >= 0 (an integer); got {steps!r}")
        tether = fit.TETHER if tether is None else tether
        if isinstance(tether, bool) or not (isinstance(tether, (int, float)) and 0.0 <= tether < float("inf")):
            raise ValueError(f"{self.name} fits with a tether >= 0 (a finite number); got {tether!r}")
        audio = np.asarray(audio, dtype=np.float32)
        start = self.encode(audio)  # also checks the shape
        targets = np.zeros((len(audio), self.output_length), np.float32)
        length = min(audio.shape[1], self.output_length)
        targets[:, :length] = np.nan_to_num(audio[:, :length], nan=0.0, posinf=0.0, neginf=0.0)
        points, first, last = start.copy(), np.full(len(audio), np.nan), np.full(len(audio), np.nan)
        rows = np.flatnonzero(np.max(np.abs(targets), axis=1) >= SILENCE) if len(targets) else np.zeros(0, int)

        def grad(z, magnitude_grad, phase_grad):
            try:
                return self.decoder_grad.run(None, {"z": z, "magnitude_grad": magnitude_grad, "phase_grad": phase_grad})[0]
            except Exception as exc:  # noqa: BLE001 - onnxruntime raises several types
                raise ModelError(f"model {self.info.folder.name}: decoder_grad.onnx failed while fitting ({_runtime_reason(exc)}).") from None
        for i in range(0, len(rows), self.max_batch):
            chunk = rows[i:i + self.max_batch]
            points[chunk], first[chunk], last[chunk] = fit.fit_points(self.decode_stft, grad, self.istft, targets[chunk], start[chunk], steps,
                                                                      compared=self.info.fit_length or None, tether=tether)
        return points, first, last

    def _optional(self, path: Path, threads: int, where: str, input_name: str, output_names: tuple[str, ...],
                  basic: bool = False):
        if not path.exists():
            return None
        session = _session(path, threads, where, basic)
        inputs = session.get_inputs()
        if len(inputs) != 1 or inputs[0].name != input_name:
            raise ModelError(f"{where}: {path.name} inputs {[i.name for i in inputs]}; expected one input {input_name!r}.")
        names = tuple(o.name for o in session.get_outputs())
        if sorted(names) != sorted(output_names):
            raise ModelError(f"{where}: {path.name} outputs {list(names)}; expected {list(output_names)}.")
        return session

    def _check_output_at_mean(self, where: str) -> None:
        mean = np.asarray(self.info.latent_mean or [0.0] * self.latent_dim, np.float32)[None, :]
        raw = self._raw_decode(mean)[0]
        if not np.all(np.isfinite(raw)):
            raise ModelError(f"{where}: the decoder outputs NaN or infinity for the prior's mean; expected finite audio.")
        if np.max(np.abs(raw)) < SILENCE:
            raise ModelError(f"{where}: the decoder outputs silence (below -80 dBFS) for the prior's mean; expected a sound.")

    # ---- optional capabilities (see base.py): encoder and classifier ----
    @property
    def encoder(self):
        """encoder.onnx's session, None when the model has none (or `decode_only`). Loaded and checked against the
        contract on the first call; a file that fails raises its ModelError then, and again on every later call."""
        if self._encoder is None and self._encoder_path is not None:
            with self._encoder_lock:
                if self._encoder is None:
                    if self._encoder_error is not None:  # a new one each time: raising the kept one would grow its traceback
                        raise ModelError(self._encoder_error.message, self._encoder_error.fix) from None
                    try:
                        self._encoder = self._load_encoder()
                    except ModelError as exc:
                        self._encoder_error = exc
                        raise
        return self._encoder

    @property
    def encoder_loaded(self) -> bool:
        """False while encoder.onnx is in the folder but not yet loaded here."""
        return self._encoder is not None or self._encoder_path is None

    def _load_encoder(self):
        where, info = f"model {self.folder.name}", self.info
        if self.before_encoder_load is not None:
            try:
                self.before_encoder_load()
            except LiveEngineError as exc:
                raise ModelError(exc.message, exc.fix) from None
        session = self._optional(self._encoder_path, self._threads, where, "audio", ("mean", "logvar"), basic=True)
        if session is None:  # there when the model loaded, gone since (moved, or being written again)
            raise ModelError(f"{where}: encoder.onnx was in {self.folder} when the model loaded and is not now; "
                             "a model folder with encoder.onnx can encode (docs/model-contract.md).", "Copy or export the model again.")
        _check_io(where, "encoder input", session.get_inputs()[0], "audio", 2, {1: info.output_length})
        for output in session.get_outputs():
            _check_io(where, "encoder output", output, output.name, 2, {1: info.latent_dim})
        return session

    @property
    def can_encode(self) -> bool:
        return self._encoder_path is not None or self._encoder is not None

    @property
    def can_classify(self) -> bool:
        return self.classifier is not None

    @property
    def classes(self) -> tuple[str, ...]:
        """The classifier's class names, in the order of classify()'s columns."""
        if self.classifier is None:
            raise ModelError(f"model {self.info.folder.name}: has no classifier.onnx, so no classes; "
                             "a model folder with classifier.onnx and liveengine.classes metadata has them.")
        return self.info.classes

    def encode(self, audio: np.ndarray) -> np.ndarray:
        """Encode sounds (float32[batch, n] mono at sample_rate) to their latent means, float32[batch, latent_dim].

        As the contract says: each row is cropped or zero-padded to output_length and
        peak-normalised (to 1.0; silence stays silence) before the encoder sees it. Any thread
        but the audio thread; safe beside decode_into.
        """
        if self.encoder is None:
            raise ModelError(f"model {self.info.folder.name}: has no encoder.onnx, so it cannot encode audio; "
                             "a model folder with encoder.onnx can (docs/model-contract.md).")
        audio = np.asarray(audio, dtype=np.float32)
        if audio.ndim == 1:
            raise ValueError(f"{self.name} encodes audio[batch, samples]; got one row of shape {audio.shape}: use audio[None, :]")
        if audio.ndim != 2:
            raise ValueError(f"{self.name} encodes audio[batch, samples]; got shape {audio.shape}")
        batch = np.zeros((len(audio), self.output_length), np.float32)
        length = min(audio.shape[1], self.output_length)
        batch[:, :length] = audio[:, :length]
        np.nan_to_num(batch, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
        peaks = np.max(np.abs(batch), axis=1, keepdims=True)
        np.divide(batch, peaks, out=batch, where=peaks >= SILENCE)
        return self._run_optional(self.encoder, "audio", batch, "mean", self.latent_dim, ENCODE_ROWS)

    def classify(self, z: np.ndarray) -> np.ndarray:
        """Class probabilities for latent points z (float32[batch, latent_dim]): float32[batch, len(classes)]."""
        classes = self.classes  # the ModelError when there is no classifier
        z = np.ascontiguousarray(z, dtype=np.float32)
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"{self.name} classifies z[batch, {self.latent_dim}]; got shape {z.shape}")
        return self._run_optional(self.classifier, "z", z, "probabilities", len(classes))

    @staticmethod
    def _run_optional(session, input_name: str, rows: np.ndarray, output_name: str, width: int, most: int | None = None) -> np.ndarray:
        """Run an encoder or classifier over `rows`, in chunks of its fixed batch if it has one, else of at most `most`."""
        fixed = session.get_inputs()[0].shape[0]
        step = fixed if isinstance(fixed, int) and fixed > 0 else max(1, min(len(rows), most or len(rows)))
        result = np.zeros((len(rows), width), np.float32)
        for start in range(0, len(rows), step):
            chunk = rows[start : start + step]
            if len(chunk) < step and isinstance(fixed, int):
                chunk = np.concatenate([chunk, np.zeros((step - len(chunk), rows.shape[1]), np.float32)])
            (output,) = session.run([output_name], {input_name: np.ascontiguousarray(chunk)})
            result[start : start + step] = output[: len(rows) - start]
        return result

    # ---- protocol ----
    def prepare(self, max_batch: int) -> None:
        """Warm up (first runs allocate and pick kernels) before the stream starts."""
        z = np.zeros((min(max_batch, self.max_batch), self.latent_dim), np.float32)
        for _ in range(2):
            with self._lock:
                self._raw_decode(z)

    def reset(self) -> None:
        pass

    def decode_into(self, z: np.ndarray, out: np.ndarray) -> None:
        z = np.ascontiguousarray(z, dtype=np.float32)
        if z.ndim != 2 or z.shape[1] != self.latent_dim or out.shape != (z.shape[0], self.output_length):
            raise ValueError(f"{self.name} decodes z[batch, {self.latent_dim}] into out[batch, {self.output_length}]; got {z.shape} and {out.shape}")
        for start in range(0, len(z), self.max_batch):
            part = out[start : start + self.max_batch]
            with self._lock:
                try:
                    part[:] = self._raw_decode(z[start : start + self.max_batch])
                except Exception as exc:  # noqa: BLE001 - onnxruntime raises several types; one clause for the report
                    raise RuntimeError(_runtime_reason(exc)) from None
            self._normalize(part)

    def _raw_decode(self, z: np.ndarray) -> np.ndarray:
        """Run the graph for one batch (<= max_batch); returns a view of an internal buffer."""
        batch = len(z)
        if self._fixed_batch and batch < self._fixed_batch:  # a graph exported with a fixed batch: pad the chunk
            padded = np.zeros((self._fixed_batch, self.latent_dim), np.float32)
            padded[:batch] = z
            return self._raw_decode(padded)[:batch]
        binding = self.session.io_binding()
        binding.bind_cpu_input("z", z)
        if self.istft is None:
            audio = self._audio[:batch]
            binding.bind_output("audio", "cpu", 0, np.float32, list(audio.shape), audio.ctypes.data)
            self.session.run_with_iobinding(binding)
            return audio
        magnitude, phase = self._magnitude[:batch], self._phase[:batch]
        binding.bind_output("magnitude", "cpu", 0, np.float32, list(magnitude.shape), magnitude.ctypes.data)
        binding.bind_output("phase", "cpu", 0, np.float32, list(phase.shape), phase.ctypes.data)
        self.session.run_with_iobinding(binding)
        audio = self._audio[:batch]
        self.istft(magnitude, phase, audio)
        return audio

    def _normalize(self, audio: np.ndarray) -> None:
        np.nan_to_num(audio, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
        if self.normalize == "none":
            return
        peaks = np.max(np.abs(audio), axis=1, keepdims=True)
        if self.normalize == "peak":
            audio *= np.minimum(PEAK_TARGET / np.maximum(peaks, SILENCE), MAX_GAIN)
            return
        rms = np.sqrt(np.mean(audio * audio, axis=1, keepdims=True))
        gain = np.minimum(np.minimum(LOUDNESS_TARGET / np.maximum(rms, SILENCE), 0.99 / np.maximum(peaks, SILENCE)), MAX_GAIN)
        audio *= gain
