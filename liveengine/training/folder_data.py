"""The data set `liveengine train` builds from a folder of the user's sounds. No PyTorch here.

Layout: every audio file under the folder, recursively (hidden files left out). Where audio
files sit in subfolders, each top-level subfolder is a class (SampleVAE's classifier data
sets read folders the same way) and files in the folder itself are unlabelled: they train the
model but not its classifier. Each file becomes its sounds as `liveengine similar` cuts them
(liveengine.library.index.file_sounds: a long recording is cut at its hits), then each sound
is prepared as the shipped drum model's data was (liveengine.training.data.to_oneshot: onset
at sample 0, 1 s at 44.1 kHz, peak-normalised).

Nothing is dropped silently: unreadable and silent files, and hits too quiet to use, are
counted with their reason in the summary. A share of each class's sounds is held back as the
validation set (never trained on), which decides when training stops and which weights are
exported.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from liveengine.audio_files import AUDIO_EXTENSIONS, READABLE, read_audio
from liveengine.errors import LiveEngineError, first_of
from liveengine.training.data import LENGTH, SAMPLE_RATE, to_oneshot

MIN_SOUNDS = 4  # three to train on and one to validate with, at the very least
VALIDATION_SHARE = 0.1  # of each class's sounds (at least one of every class with two or more)
CLASSES_HINT = "one subfolder per class if they have classes"


@dataclass
class FolderData:
    """Sounds of one folder, prepared for training. Row i of `audio` is the sound at `starts[i]` seconds in `files[i]`."""

    folder: Path
    class_names: tuple[str, ...]  # subfolder names, sorted; () without subfolders
    audio: np.ndarray  # float32 [n, LENGTH]
    classes: np.ndarray  # int16 [n]: index into class_names, -1 unlabelled
    files: np.ndarray  # str [n]: path relative to the folder
    starts: np.ndarray  # float [n]: seconds into the file
    split: np.ndarray  # str [n]: "train" or "validation"
    audio_files: int = 0  # audio files found
    skipped: dict[str, str] = field(default_factory=dict)  # file -> why it gave no sound
    quiet_hits: int = 0  # hits cut from files but too quiet to use (under -80 dBFS)
    cut_long: int = 0  # sounds longer than the model's 1 s, cut to it (with a fade)
    other_files: int = 0  # files that are not audio (by their ending), not read

    @property
    def train(self) -> np.ndarray:
        return self.split == "train"

    @property
    def validation(self) -> np.ndarray:
        return self.split == "validation"

    def class_label(self, index: int) -> str:
        return self.class_names[index] if index >= 0 else "(unlabelled)"

    def summary(self) -> dict:
        """Counts for people and the model card: files, sounds, per class (train / validation), what was skipped and why."""
        per_class = {}
        for index in sorted(set(self.classes.tolist()), key=lambda k: (k < 0, k)):
            mask = self.classes == index
            per_class[self.class_label(index)] = {"files": len(set(self.files[mask].tolist())), "sounds": int(mask.sum()),
                                                  "train": int((mask & self.train).sum()), "validation": int((mask & self.validation).sum())}
        reasons = Counter(self.skipped.values())
        return {"folder": str(self.folder), "audio_files": self.audio_files, "files_used": len(set(self.files.tolist())),
                "sounds": len(self.audio), "train": int(self.train.sum()), "validation": int(self.validation.sum()),
                "classes": list(self.class_names), "per_class": per_class, "skipped": dict(self.skipped),
                "skipped_reasons": dict(reasons), "quiet_hits": self.quiet_hits, "cut_to_1s": self.cut_long, "other_files": self.other_files}

    def summary_lines(self) -> list[str]:
        """The summary `liveengine train` prints."""
        s = self.summary()
        lines = [f"{s['audio_files']} audio file{_s(s['audio_files'])} in {self.folder}: {s['sounds']} sound{_s(s['sounds'])} "
                 f"from {s['files_used']} file{_s(s['files_used'])}; {s['train']} to train on, {s['validation']} held back to validate"]
        if self.class_names:
            lines.append(f"{len(self.class_names)} class{'es' if len(self.class_names) != 1 else ''} (subfolders): "
                         + ", ".join(f"{name} {c['sounds']}" for name, c in s["per_class"].items()))
        else:
            lines.append("no classes (no subfolders): the model gets no classifier, and the pad map shows brightness")
        if s["skipped"]:
            lines.append(f"skipped {len(self.skipped)} file{_s(len(self.skipped))}: {first_of(self.skipped, 8)}")
        if self.other_files:
            lines.append(f"left out {self.other_files} file{_s(self.other_files)} that {'are' if self.other_files != 1 else 'is'} not audio "
                         f"(by {'their' if self.other_files != 1 else 'its'} ending; read: {', '.join(AUDIO_EXTENSIONS)})")
        if self.quiet_hits:
            lines.append(f"left out {self.quiet_hits} hit{_s(self.quiet_hits)} quieter than -80 dBFS")
        if self.cut_long:
            lines.append(f"{self.cut_long} sound{_s(self.cut_long)} longer than 1 s cut to 1 s with a 50 ms fade (the model learns from each sound's first second)")
        return lines

    def save(self, path: Path) -> None:
        meta = {"folder": str(self.folder), "class_names": list(self.class_names), "audio_files": self.audio_files,
                "skipped": self.skipped, "quiet_hits": self.quiet_hits, "cut_long": self.cut_long, "other_files": self.other_files}
        np.savez(path, audio=(self.audio * 32767).astype(np.int16), classes=self.classes, files=self.files, starts=self.starts,
                 split=self.split, meta=np.array(json.dumps(meta)))

    @classmethod
    def load(cls, path: Path) -> "FolderData":
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            return cls(Path(meta["folder"]), tuple(meta["class_names"]), data["audio"].astype(np.float32) / 32767.0,
                       data["classes"].astype(np.int16), data["files"], data["starts"], data["split"], meta["audio_files"],
                       meta["skipped"], meta["quiet_hits"], meta["cut_long"], meta["other_files"])

    def manifest_rows(self) -> list[dict]:
        return [{"file": f, "start_s": round(float(t), 4), "class": self.class_names[c] if c >= 0 else "", "split": s}
                for f, t, c, s in zip(self.files.tolist(), self.starts.tolist(), self.classes.tolist(), self.split.tolist())]


def _s(n: int) -> str:
    return "" if n == 1 else "s"


def check_folder(folder: Path) -> tuple[list[Path], int]:
    """(the audio files under `folder`, sorted; how many other files there are). LiveEngineError for a missing folder,
    an empty one, or one with no audio files."""
    folder = Path(folder)
    if not folder.is_dir():
        what = "is a file" if folder.exists() else "does not exist"
        raise LiveEngineError(f"{folder} {what}; liveengine train needs a folder of audio files ({CLASSES_HINT}).")
    everything = [p for p in folder.rglob("*") if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)]
    if not everything:
        raise LiveEngineError(f"{folder} is empty; put audio files in it ({READABLE}), {CLASSES_HINT}.")
    audio = sorted(p for p in everything if p.suffix.lower() in AUDIO_EXTENSIONS)
    if not audio:
        kinds = Counter(p.suffix.lower() or "(no ending)" for p in everything)
        found = ", ".join(f"{n} {kind}" for kind, n in kinds.most_common(5))
        raise LiveEngineError(f"{folder} holds no audio files (found {len(everything)} other file{_s(len(everything))}: {found}); "
                              f"liveengine train reads {READABLE} files ({', '.join(AUDIO_EXTENSIONS)}).")
    return audio, len(everything) - len(audio)


def file_labels(folder: Path, files: list[Path]) -> tuple[tuple[str, ...], list[int]]:
    """(class names, class index per file): the top-level subfolder each file is in; -1 for files in the folder itself."""
    parts = [f.relative_to(folder).parts for f in files]
    names = tuple(sorted({p[0] for p in parts if len(p) > 1}))
    return names, [names.index(p[0]) if len(p) > 1 else -1 for p in parts]


def build_folder_data(folder: Path, *, seed: int = 0, on_progress: Callable[[int, int], None] | None = None) -> FolderData:
    """Read, cut and prepare every sound in `folder`, and hold back the validation set.

    LiveEngineError: no folder, an empty one, no audio files, no file readable, fewer than
    MIN_SOUNDS sounds, or a class with a single sound (it could not be both trained on and checked).
    """
    from liveengine.library.index import file_sounds

    folder = Path(folder)
    files, others = check_folder(folder)
    names, labels = file_labels(folder, files)
    audio, classes, rel_files, starts = [], [], [], []
    skipped: dict[str, str] = {}
    quiet = cut = 0
    for done, (path, label) in enumerate(zip(files, labels), 1):
        name = path.relative_to(folder).as_posix()
        try:
            samples = read_audio(path, SAMPLE_RATE)
        except LiveEngineError as exc:
            skipped[name] = exc.message.replace(f"audio file {path} ", "", 1).rstrip(".")
        else:
            sounds = file_sounds(samples, SAMPLE_RATE, LENGTH)
            kept = 0
            for start, sound in sounds:
                shot = to_oneshot(sound)
                if shot is None:
                    quiet += 1
                    continue
                cut += len(sound) > LENGTH
                audio.append(shot); classes.append(label); rel_files.append(name); starts.append(start)
                kept += 1
            if not kept:
                skipped[name] = "is silent" if not sounds else "holds only hits quieter than -80 dBFS"
        if on_progress is not None:
            on_progress(done, len(files))
    if not audio:
        listed = "; ".join(f"{n} {r}" for n, r in list(skipped.items())[:3])
        raise LiveEngineError(f"none of the {len(files)} audio file{_s(len(files))} in {folder} gave a sound ({listed}"
                              + (f"; and {len(skipped) - 3} more" if len(skipped) > 3 else "") + ").",
                              "Convert them to WAV or FLAC, or point liveengine train at another folder.")
    classes_arr = np.array(classes, np.int16)
    if len(audio) < MIN_SOUNDS:
        raise LiveEngineError(f"{folder} gives {len(audio)} sound{_s(len(audio))} in all; training needs at least {MIN_SOUNDS} "
                              "(some to train on, at least one to check it with).", "Add sounds to the folder.")
    for index, name in enumerate(names):
        count = int((classes_arr == index).sum())
        if count == 1:
            raise LiveEngineError(f"class {name!r} (subfolder {name}/) has 1 sound; every class needs at least 2, "
                                  "one to train on and one to check the model with.",
                                  f"Add sounds to {name}/, or move its sound into another subfolder or the folder itself.")
    unused = [n for i, n in enumerate(names) if not (classes_arr == i).any()]
    if unused:  # every file of that subfolder was skipped: its class would have no sound at all
        listed = "; ".join(f"{n} {r}" for n, r in skipped.items() if n.startswith(f"{unused[0]}/"))
        raise LiveEngineError(f"class {unused[0]!r} (subfolder {unused[0]}/) has no usable sound ({listed}).",
                              f"Fix or remove the files in {unused[0]}/.")
    split = validation_split(classes_arr, seed)
    data = FolderData(folder, names, np.stack(audio).astype(np.float32), classes_arr, np.array(rel_files), np.array(starts, np.float64),
                      split, len(files), skipped, quiet, cut, others)
    if len(names) == 1:  # one class is no classification: its sounds are plain training sounds
        data = FolderData(folder, (), data.audio, np.full(len(audio), -1, np.int16), data.files, data.starts, split, len(files),
                          skipped, quiet, cut, others)
    return data


def validation_split(classes: np.ndarray, seed: int = 0) -> np.ndarray:
    """"train" or "validation" per sound: VALIDATION_SHARE of each class (-1 included), at least one of any class
    with two or more sounds, chosen at random with `seed`; the same classes and seed give the same split."""
    rng = np.random.default_rng(seed)
    split = np.full(len(classes), "train", dtype="<U10")
    for index in np.unique(classes):
        members = np.flatnonzero(classes == index)
        if len(members) < 2:
            continue
        count = max(1, int(round(VALIDATION_SHARE * len(members))))
        split[rng.choice(members, count, replace=False)] = "validation"
    return split
