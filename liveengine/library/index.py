"""An index of a folder of audio files encoded with a model's encoder, cached on disk.

Every audio file under the folder (recursively) is read at the model's rate; a file
longer than twice the model's output is cut at its onsets and each hit is indexed with
its start time; a shorter one is one sound, from its first onset. Each sound's latent
point is the encoder's mean. Unreadable files are skipped and named, never fatal
unless nothing is left.

The cache is one .npz file per (model hash, library folder) in the user cache folder
(platformdirs) or a folder given. It stores, per file, its relative path, size and
modification time; on the next use, files that changed, appeared or vanished are
re-encoded or dropped and the rest reused, so a changed library is always indexed as
it is now. No pickles: arrays plus one JSON string. Ctrl-C while indexing saves the files
encoded so far (IndexInterrupted), so the next run encodes only the rest.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from liveengine.audio_files import AUDIO_EXTENSIONS, QUERY_SECONDS, read_audio, read_audio_start, segment_at_onsets
from liveengine.atomic_file import write_atomic
from liveengine.decoders.base import require_encoder
from liveengine.errors import LiveEngineError
from liveengine.resources import cache_dir as user_cache_dir

INDEX_VERSION = 2  # 2: files cut into sounds by file_sounds with NEW_HIT_DB; an index of another version is rebuilt
ENCODE_BATCH = 32


@dataclass
class LibraryIndex:
    """Sounds of one library folder encoded by one model. Row i of `points` is `entries[i]` = (relative path, start seconds)."""

    folder: Path
    model_hash: str
    latent_dim: int
    entries: list[tuple[str, float]]
    points: np.ndarray  # float32[len(entries), latent_dim]
    files: dict[str, tuple[int, int]] = field(default_factory=dict)  # relative path -> (size, mtime_ns), indexed ones
    skipped: dict[str, str] = field(default_factory=dict)  # relative path -> why it could not be read
    status: str = "built"  # "built", "updated" or "cached": what load_or_build did

    def nearest(self, point: np.ndarray, n: int = 10) -> list[tuple[str, float, float]]:
        """The `n` sounds nearest `point` (Euclidean, latent space): (relative path, start seconds, distance), nearest first."""
        if not len(self.entries):
            return []
        distances = np.linalg.norm(self.points.astype(np.float64) - np.asarray(point, np.float64)[None, :], axis=1)
        order = np.argsort(distances, kind="stable")[:n]
        return [(self.entries[i][0], self.entries[i][1], float(distances[i])) for i in order]


class IndexInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped load_or_build. `kept` of the folder's `total` files (encoded, found unreadable, or held by the
    cache before) are in the index file at `path`, with `sounds` sounds, so the next run encodes only the rest;
    `kept` 0: nothing new had been encoded, the index file is as it was. A KeyboardInterrupt still: the CLI exits
    130 after saying so."""

    def __init__(self, folder: Path, path: Path, kept: int, total: int, sounds: int) -> None:
        super().__init__(f"indexing stopped with {kept} of {total} files kept")
        self.folder, self.path, self.kept, self.total, self.sounds = folder, path, kept, total, sounds


def library_files(folder: Path) -> list[Path]:
    """Audio files under `folder`, recursively, sorted; hidden files (and macOS '._' shadows) left out.

    LiveEngineError for a missing folder, a file, or a folder with no audio files in it.
    """
    folder = Path(folder)
    if not folder.is_dir():
        what = "is a file" if folder.exists() else "does not exist"
        raise LiveEngineError(f"library folder {folder} {what}; expected a folder of audio files ({', '.join(AUDIO_EXTENSIONS)}).")
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS and p.is_file()
                   and not any(part.startswith(".") for part in p.relative_to(folder).parts))
    if not files:
        raise LiveEngineError(f"library folder {folder} holds no audio files ({', '.join(AUDIO_EXTENSIONS)}), in it or below it.",
                              "Point --library at a folder of samples.")
    return files


def file_sounds(audio: np.ndarray, rate: int, output_length: int) -> list[tuple[float, np.ndarray]]:
    """The sounds one file is, as (start seconds, audio): the one function the library and a query both use.

    A file up to twice the model's output is a one-shot: one sound, from its first onset to its
    end. A longer one is cut at its hits (a long one-shot, a ringing cymbal, has one clear onset
    and stays one sound). [] for silence.
    """
    if len(audio) > 2 * output_length:
        return segment_at_onsets(audio, rate, max_seconds=output_length / rate)
    segments = segment_at_onsets(audio, rate, max_seconds=len(audio) / rate + 1.0)
    if not segments:
        return []
    start = int(round(segments[0][0] * rate))
    return [(segments[0][0], audio[start:])]


def query_sound(path: Path, decoder) -> tuple[float, np.ndarray]:
    """The sound of a query file: its first sound as the library would index it, and its start in seconds.
    LiveEngineError if it is silent. Of a file longer than QUERY_SECONDS only QUERY_SECONDS from its first
    non-silent sample are read and cut (read_audio_start): its first sound is in there, and memory stays bounded."""
    offset, audio = read_audio_start(path, decoder.sample_rate, QUERY_SECONDS)
    sounds = file_sounds(audio, decoder.sample_rate, decoder.output_length)
    if not sounds:
        raise LiveEngineError(f"audio file {path} is silent; expected a sound to search for.")
    start, sound = sounds[0]
    return offset + start, sound


def default_cache_dir() -> Path:
    """The index cache: LIVEENGINE_CACHE/similar if set, else the platform's user cache folder / similar."""
    return user_cache_dir() / "similar"


def cache_path(cache_dir: Path, model_hash: str, folder: Path) -> Path:
    place = hashlib.sha256(str(Path(folder).resolve()).encode()).hexdigest()[:16]
    return Path(cache_dir) / f"index-{model_hash}-{place}.npz"


def _stat(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_size, st.st_mtime_ns


def _load_cache(path: Path, model_hash: str, folder: Path) -> dict | None:
    """The cached per-file records, or None if there is no usable cache (missing, another version, model or folder, damaged)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            points = np.asarray(data["points"], np.float32)
    # A truncated or overwritten file fails in the zip layer (BadZipFile, EOFError, NotImplementedError
    # for a garbled version field), a plain .npy in its place with TypeError (no context manager).
    except (OSError, ValueError, KeyError, TypeError, EOFError, NotImplementedError, zipfile.BadZipFile):
        return None  # a damaged or foreign cache file is rebuilt, not trusted
    if not isinstance(meta, dict) or points.ndim != 2:
        return None
    if meta.get("version") != INDEX_VERSION or meta.get("model") != model_hash or meta.get("folder") != str(Path(folder).resolve()):
        return None
    records, row = {}, 0
    try:
        for name, size, mtime, starts in meta["files"]:
            records[name] = ((int(size), int(mtime)), [float(s) for s in starts], points[row : row + len(starts)])
            row += len(starts)
        skipped = {k: ((int(v[0][0]), int(v[0][1])), str(v[1])) for k, v in meta.get("skipped", {}).items()}
    except (TypeError, ValueError, KeyError, IndexError, AttributeError):
        return None
    if row != len(points):
        return None
    return {"files": records, "skipped": skipped}


def _save_cache(path: Path, index: LibraryIndex, starts_by_file: dict[str, list[float]], skipped_stats: dict[str, tuple[int, int]]) -> None:
    meta = {"version": INDEX_VERSION, "model": index.model_hash, "folder": str(index.folder.resolve()),
            "files": [[name, *index.files[name], starts_by_file[name]] for name in starts_by_file],
            "skipped": {name: [list(skipped_stats[name]), reason] for name, reason in index.skipped.items()}}
    data = io.BytesIO()
    np.savez(data, meta=np.array(json.dumps(meta)), points=index.points)
    try:
        write_atomic(path, data.getvalue())
    except OSError as exc:
        raise LiveEngineError(f"cannot write the library index into {path.parent} ({exc.strerror or exc}); expected a folder you can write to.",
                              "Pass --cache a writable folder, or set LIVEENGINE_CACHE.") from None


def load_or_build(decoder, folder: Path, cache_dir: Path | None = None,
                  on_progress: Callable[[int, int], None] | None = None) -> LibraryIndex:
    """The index of `folder` for `decoder`, from the cache where the files are unchanged, encoding the rest.

    LiveEngineError: a model with no encoder, a missing or empty folder, or a folder none of
    whose files could be read. `cache_dir` None: the user cache folder.
    """
    require_encoder(decoder, "finding similar sounds", "Pass --model or --patch naming a model folder with encoder.onnx.")
    folder = Path(folder)
    files = library_files(folder)
    path = cache_path(cache_dir if cache_dir is not None else default_cache_dir(), decoder.identity, folder)
    cached = _load_cache(path, decoder.identity, folder) if path.exists() else None
    old_files = cached["files"] if cached else {}
    old_skipped = cached["skipped"] if cached else {}

    # (entries, their points) per file or encoded batch, each appended whole: what Ctrl-C leaves here is complete.
    chunks: list[tuple[list[tuple[str, float]], np.ndarray]] = []
    stats: dict[str, tuple[int, int]] = {}
    skipped: dict[str, str] = {}
    skipped_stats: dict[str, tuple[int, int]] = {}
    pending: list[tuple[str, float, np.ndarray]] = []  # sounds to encode
    changed = cached is None
    try:
        for done, file in enumerate(files, 1):
            name = file.relative_to(folder).as_posix()
            try:
                stat = _stat(file)
            except OSError as exc:
                skipped[name] = f"could not be opened ({exc.strerror or exc})"
                changed = True
                continue
            if name in old_files and old_files[name][0] == stat:
                _, starts, points = old_files[name]
                stats[name] = stat
                chunks.append(([(name, s) for s in starts], points))
            elif name in old_skipped and old_skipped[name][0] == stat:
                skipped[name], skipped_stats[name] = old_skipped[name][1], stat
            else:
                changed = True
                try:
                    audio = read_audio(file, decoder.sample_rate)
                except LiveEngineError as exc:
                    skipped[name], skipped_stats[name] = _reason(exc.message, file), stat
                    continue
                sounds = file_sounds(audio, decoder.sample_rate, decoder.output_length)
                if not sounds:
                    skipped[name], skipped_stats[name] = "is silent", stat
                    continue
                stats[name] = stat
                pending += [(name, round(start, 4), sound) for start, sound in sounds]
                if len(pending) >= ENCODE_BATCH:
                    chunks.append(([(n, s) for n, s, _ in pending], encode_sounds(decoder, [sound for _, _, sound in pending])))
                    pending = []
            if on_progress is not None:
                on_progress(done, len(files))
        if pending:
            chunks.append(([(n, s) for n, s, _ in pending], encode_sounds(decoder, [sound for _, _, sound in pending])))
    except KeyboardInterrupt:  # saves what is complete, then raises IndexInterrupted
        _save_interrupted(path, decoder, folder, files, chunks, stats, skipped, skipped_stats, old_files, old_skipped)
    if set(old_files) - set(stats) or set(old_skipped) - set(skipped):
        changed = True  # files that vanished
    index, order = _assemble(decoder, folder, files, chunks, stats, skipped)
    if not index.entries:
        listed = "; ".join(f"{n} {r}" for n, r in list(skipped.items())[:5])
        raise LiveEngineError(f"library folder {folder}: none of its {len(files)} audio files could be indexed ({listed}).")
    index.status = "built" if cached is None else "updated" if changed else "cached"
    if changed:
        _save_cache(path, index, order, skipped_stats)
    return index


def _assemble(decoder, folder: Path, files: list[Path], chunks: list, stats: dict, skipped: dict) -> tuple[LibraryIndex, dict[str, list[float]]]:
    """The index of `chunks` (entries and points), and per file its starts: how the cache file lays out the rows.
    In file order then time, however much came from the cache: the same library gives the same index."""
    entries = [entry for chunk, _ in chunks for entry in chunk]
    points = np.concatenate([p for _, p in chunks]).astype(np.float32) if chunks else np.zeros((0, decoder.latent_dim), np.float32)
    rank = {file.relative_to(folder).as_posix(): i for i, file in enumerate(files)}
    sort = sorted(range(len(entries)), key=lambda i: (rank[entries[i][0]], entries[i][1]))
    entries, points = [entries[i] for i in sort], points[sort]
    order: dict[str, list[float]] = {}
    for name, start in entries:
        order.setdefault(name, []).append(start)
    return LibraryIndex(folder, decoder.identity, decoder.latent_dim, entries, points, {n: stats[n] for n in order}, skipped), order


def _save_interrupted(path: Path, decoder, folder: Path, files: list[Path], chunks: list, stats: dict, skipped: dict,
                      skipped_stats: dict, old_files: dict, old_skipped: dict) -> None:
    """On Ctrl-C: save what is complete (the files in `chunks`, those found unreadable, and whatever the cache held
    for the files not reached: the next run checks them as always), then raise IndexInterrupted saying so."""
    done = {name for chunk, _ in chunks for name, _ in chunk}
    new = {name for name in done if name not in old_files or old_files[name][0] != stats[name]}
    new |= {name for name in skipped_stats if name not in old_skipped or old_skipped[name][0] != skipped_stats[name]}
    if not new:  # nothing encoded or found unreadable yet: the cache file stays as it was
        raise IndexInterrupted(folder, path, 0, len(files), 0) from None
    on_disk = {file.relative_to(folder).as_posix() for file in files}
    for name, (stat, starts, points) in old_files.items():
        if name in on_disk and name not in done and name not in skipped:
            chunks.append(([(name, s) for s in starts], points))
            stats[name] = stat
    kept_skipped = {name: skipped[name] for name in skipped_stats}
    for name, (stat, reason) in old_skipped.items():
        if name in on_disk and name not in done and name not in kept_skipped:
            kept_skipped[name], skipped_stats[name] = reason, stat
    index, order = _assemble(decoder, folder, files, chunks, stats, kept_skipped)
    _save_cache(path, index, order, skipped_stats)
    raise IndexInterrupted(folder, path, len(order) + len(kept_skipped), len(files), len(index.entries)) from None


def _reason(message: str, file: Path) -> str:
    """read_audio's message without the path (the caller names the file)."""
    return message.replace(f"audio file {file} ", "", 1)


def sound_batch(decoder, sounds: list[np.ndarray]) -> np.ndarray:
    """Sounds as one float32 batch, each cut or zero-padded to the model's output."""
    batch = np.zeros((len(sounds), decoder.output_length), np.float32)
    for row, sound in enumerate(sounds):
        batch[row, : min(len(sound), decoder.output_length)] = sound[: decoder.output_length]
    return batch


def encode_sounds(decoder, sounds: list[np.ndarray]) -> np.ndarray:
    """Latent means of sounds: how the library and a query are both encoded (one encoder pass each, for search)."""
    return decoder.encode(sound_batch(decoder, sounds))
