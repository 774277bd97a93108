"""Build the drum data set from Debian packages only, reproducibly.

    apt-get install -y --no-install-recommends sonic-pi-samples fluid-soundfont-gm fluidsynth hydrogen-drumkits
    python -m liveengine.training.data            # writes training_data/ (gitignored)

Sources and what is used for what:
- sonic-pi-samples (CC0, freesound): the percussive samples, labelled from their names; training.
- fluid-soundfont-gm (MIT): its eight General MIDI drum kits rendered note by note at four
  velocities with Debian's fluidsynth; GM note numbers give the labels; training.
- hydrogen-drumkits: kits whose licence in Debian's copyright file is CC0 or CC-BY (and whose own
  drumkit.xml / README agree) are training data; the GPL and CC-BY-SA kits are the held-out
  evaluation set and never reach training.

Output (all under --out): `sounds.npz` (int16 audio [N, 44100] at 44.1 kHz, peak-normalised,
onset at sample 0; class index or -1; split "train"/"heldout"), `manifest.csv` (one line per
sound: file, source, licence, class, split, kit), and `train_aug.npz` (the training sounds plus
augmented copies: pitch, envelope, filtering, layering).
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import subprocess
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

SAMPLE_RATE = 44100
FADE_S = 0.05  # a sound cut at the window's end fades out over its last 50 ms (the models learn it; tail.py, pad_endings.py)
LENGTH = 44100  # 1 s
CLASSES = ("kick", "snare", "clap", "hat_closed", "hat_open", "tom", "cymbal", "perc")

SONIC_PI = Path("/usr/share/sonic-pi/samples")
SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
HYDROGEN = Path("/usr/share/hydrogen/data/drumkits")

# Debian's copyright file for hydrogen-drumkits, per installed kit folder. Checked against each
# kit's own drumkit.xml <license> (and README) when the data is built.
HYDROGEN_LICENCES = {
    "Audiophob": ("CC0", "soundcloud.com/audiophobdubstep (freesound.org samples)"),
    "rumpf_kit_z01_h2": ("CC-BY-3.0", "Emanuel Rumpf"),
    "ElectricEmpireKit": ("GPL-2+", "Artemiy Pavlov (ArtemioLabs)"),
    "HardElectro1": ("GPL-2+", "Artemiy Pavlov (ArtemioLabs)"),
    "VariBreaks": ("GPL-2+", "Artemiy Pavlov (ArtemioLabs) / Sineshine"),
    "Millo-Drums_v.1": ("GPL-2", "Emiliano Grilli (Emillo)"),
    "Millo_MultiLayered2": ("GPL-2", "Emiliano Grilli (Emillo)"),
    "Millo_MultiLayered3": ("GPL-2", "Emiliano Grilli (Emillo)"),
    "ColomboAcousticDrumkit": ("GPL-2+ with composition exception", "Marcos Guglielmetti"),
    "circAfrique v4": ("CC-BY-SA-3.0", "Jim Harney"),
    "BJA_Pacific": ("CC-BY-SA-3.0-us", "Luc Tanguay / Bransin James Anderson"),
    "Gimme A Hand 1.0": ("GPL-2", "Glen MacArthur"),
    "The Black Pearl 1.0": ("GPL-2", "Glen MacArthur"),
    "ForzeeStereo": ("GPL-2", "Vladimir Sadovnikov, Alexander Belokurov"),
}
TRAINABLE_LICENCES = ("CC0", "CC-BY-3.0")

FLUID_KITS = {0: "Standard", 8: "Room", 16: "Power", 24: "Electronic", 25: "TR-808", 32: "Jazz", 40: "Brush", 48: "Orchestra"}
FLUID_VELOCITIES = (40, 70, 100, 127)


def gm_class(note: int) -> str | None:
    """General MIDI percussion key -> class; None for keys that are not one-shot drums (whistles, cuica)."""
    if note in (35, 36):
        return "kick"
    if note in (38, 40):
        return "snare"
    if note == 39:
        return "clap"
    if note in (42, 44):
        return "hat_closed"
    if note == 46:
        return "hat_open"
    if note in (41, 43, 45, 47, 48, 50):
        return "tom"
    if note in (49, 51, 52, 53, 55, 57, 59):
        return "cymbal"
    if note in (71, 72, 78, 79, 58):  # whistles, cuica, vibraslap: not drum hits
        return None
    if 37 <= note <= 81:
        return "perc"
    return None


def name_class(name: str) -> str | None:
    """Instrument or file name -> class, by keywords; None when the name says nothing."""
    n = name.lower().replace("_", " ").replace("-", " ")
    if "cowbell" in n:
        return "perc"
    if "rimshot" in n and "snare" in n:
        return "snare"
    if re.search(r"\b(kick|bass ?drum|bd)\b", n) or "kick" in n:
        return "kick"
    if "clap" in n or "snap" in n:
        return "clap"
    if "snare" in n or re.search(r"\bsn\b", n):
        return "snare"
    if "hat" in n or re.search(r"\bhh\b", n):
        return "hat_open" if ("open" in n or "semi" in n or "swish" in n) else "hat_closed"
    if "tom" in n:
        return "tom"
    if any(k in n for k in ("crash", "ride", "cymbal", "splash", "china", "bell")):
        return "cymbal"
    if any(k in n for k in ("stick", "rim", "tamb", "agogo", "clave", "wood", "bongo", "conga", "maraca", "cajon",
                            "shaker", "perc", "tabla", "glass", "block", "triangle", "tick")):
        return "perc"
    return None


SONIC_PI_CLASSES = {
    "kick": ["bd_*", "drum_bass_*", "drum_heavy_kick", "elec_hollow_kick", "elec_soft_kick"],
    "snare": ["sn_*", "drum_snare_*", "elec_*snare*"],
    "clap": ["perc_snap*"],
    "hat_closed": ["drum_cymbal_closed", "drum_cymbal_pedal"],
    "hat_open": ["drum_cymbal_open"],
    "tom": ["drum_tom_*", "elec_fuzz_tom"],
    "cymbal": ["drum_cymbal_hard", "drum_cymbal_soft", "drum_splash_*", "elec_cymbal"],
    "perc": ["drum_cowbell", "elec_wood", "elec_tick", "elec_triangle", "elec_pop", "elec_plip", "elec_blip", "perc_bell*",
             "tabla_*", "glitch_perc*", "perc_impact*"],
}


# ---------------------------------------------------------------- audio helpers

def load_audio(path: Path) -> np.ndarray:
    import soundfile as sf
    import soxr

    data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    mono = data.mean(axis=1)
    if rate != SAMPLE_RATE:
        mono = soxr.resample(mono, rate, SAMPLE_RATE).astype(np.float32)
    return mono


def to_oneshot(x: np.ndarray, threshold_db: float = -40.0, length: int = LENGTH) -> np.ndarray | None:
    """Onset at sample 0 (a few samples before the first one within threshold of the peak), `length`
    samples (1 s by default), faded out over 50 ms if cut, peak-normalised to 0.9. None for silence."""
    peak = float(np.max(np.abs(x))) if len(x) else 0.0
    if peak < 1e-4:
        return None
    above = np.flatnonzero(np.abs(x) >= peak * 10 ** (threshold_db / 20))
    start = max(0, int(above[0]) - 32)
    x = x[start:start + length].astype(np.float32)
    out = np.zeros(length, np.float32)
    out[:len(x)] = x
    if len(x) == length:  # cut: fade the last 50 ms
        fade = int(FADE_S * SAMPLE_RATE)
        out[-fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
    if start > 0:  # the 32 samples before the onset fade in
        out[:32] *= np.linspace(0.0, 1.0, 32, dtype=np.float32) ** 2
    peak = float(np.max(np.abs(out)))
    return out * (0.9 / peak) if peak > 1e-4 else None


# ---------------------------------------------------------------- sources

def sonic_pi_sounds():
    import fnmatch

    for path in sorted(SONIC_PI.glob("*.flac")):
        for cls, patterns in SONIC_PI_CLASSES.items():
            if any(fnmatch.fnmatch(path.stem, p) for p in patterns):
                yield path, cls, "sonic-pi-samples", "CC0", "sonic-pi"
                break


def _midi_file(path: Path, program: int, notes: list[int], velocity: int, spacing: float) -> None:
    import mido

    mid = mido.MidiFile(ticks_per_beat=480)
    track = mido.MidiTrack()
    mid.tracks.append(track)
    track.append(mido.MetaMessage("set_tempo", tempo=500000))  # 120 bpm: 960 ticks per second
    track.append(mido.Message("control_change", channel=9, control=0, value=1, time=0))
    track.append(mido.Message("program_change", channel=9, program=program, time=0))
    step = int(spacing * 960)
    track.append(mido.Message("note_on", channel=9, note=notes[0], velocity=velocity, time=step // 4))
    for i, note in enumerate(notes):
        track.append(mido.Message("note_off", channel=9, note=note, velocity=0, time=step // 2))
        if i + 1 < len(notes):
            track.append(mido.Message("note_on", channel=9, note=notes[i + 1], velocity=velocity, time=step - step // 2))
    track.append(mido.Message("note_off", channel=9, note=notes[-1], velocity=0, time=step))
    mid.save(str(path))


def fluid_sounds(raw: Path, seconds: float = 1.0):
    """Render each GM kit at each velocity as one file (notes 2 s apart, or `seconds` + 1 s for a window longer than
    1 s), then slice per note (0.1 s less than the spacing)."""
    notes = [n for n in range(35, 82) if gm_class(n) is not None]
    spacing = max(2.0, seconds + 1.0)
    raw.mkdir(parents=True, exist_ok=True)
    for program, kit in FLUID_KITS.items():
        for velocity in FLUID_VELOCITIES:
            wav = raw / (f"fluid_{program:03d}_{velocity:03d}.wav" if spacing == 2.0 else f"fluid_{program:03d}_{velocity:03d}_{spacing:g}s.wav")
            if not wav.exists():
                with tempfile.TemporaryDirectory() as tmp:
                    mid = Path(tmp) / "kit.mid"
                    _midi_file(mid, program, notes, velocity, spacing)
                    subprocess.run(["fluidsynth", "-n", "-i", "-q", "-r", str(SAMPLE_RATE), "-g", "0.5",
                                    "-o", "audio.file.format=float", "-o", "synth.reverb.active=0", "-o", "synth.chorus.active=0",
                                    "-F", str(wav), str(SOUNDFONT), str(mid)], check=True, capture_output=True)
            audio = load_audio(wav)
            for i, note in enumerate(notes):
                start = int((spacing / 4 + i * spacing) * SAMPLE_RATE)
                yield (audio[start:start + int((spacing - 0.1) * SAMPLE_RATE)], f"FluidR3_GM.sf2#bank128-{program}-{kit}/note{note}/vel{velocity}",
                       gm_class(note), "fluid-soundfont-gm", "MIT", f"fluid-{kit}")


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def hydrogen_kit(folder: Path):
    """(file, class or None) for every layer of every instrument of one kit."""
    root = ET.parse(folder / "drumkit.xml").getroot()
    for inst in root.iter():
        if _local(inst.tag) != "instrument":
            continue
        name = ""
        for child in inst:
            if _local(child.tag) == "name":
                name = child.text or ""
        files = [el.text for el in inst.iter() if _local(el.tag) == "filename" and el.text]
        cls = name_class(name)
        for f in files:
            path = folder / f
            if path.exists():
                yield path, name, cls


def kit_licence_ok(folder: Path, licence: str) -> bool:
    """The kit's own files must not say otherwise than Debian's copyright file."""
    text = (folder / "drumkit.xml").read_text(errors="replace")
    own = re.search(r"<license>(.*?)</license>", text, re.S)
    own_text = (own.group(1) if own else "").lower()
    for readme in folder.glob("README*"):
        own_text += " " + readme.read_text(errors="replace").lower()
    if "gpl" in own_text or "share" in own_text or "sa " in own_text:
        return False
    if licence == "CC0":
        return "creative commons 0" in own_text or "cc0" in own_text
    return "cc-by" in own_text or "creativecommons.org/licenses/by/" in own_text


def hydrogen_sounds():
    for folder in sorted(p for p in HYDROGEN.iterdir() if (p / "drumkit.xml").exists()):
        licence, author = HYDROGEN_LICENCES.get(folder.name, ("unknown", "unknown"))
        split = "train" if licence in TRAINABLE_LICENCES and kit_licence_ok(folder, licence) else "heldout"
        for path, name, cls in hydrogen_kit(folder):
            yield path, cls, f"hydrogen-drumkits/{folder.name}", licence, split, author, name


# ---------------------------------------------------------------- augmentation

def augment(x: np.ndarray, rng: np.random.Generator, partner: np.ndarray | None) -> np.ndarray:
    """One random variant: pitch (resampling), envelope, spectral tilt/band filter, layering (of `x`'s length)."""
    import soxr

    length = len(x)
    y = x
    if rng.random() < 0.7:  # pitch: -5..+5 semitones by resampling (length changes with it, as a sampler does)
        semis = rng.uniform(-5, 5)
        ratio = 2 ** (semis / 12)
        y = soxr.resample(y, SAMPLE_RATE, SAMPLE_RATE / ratio).astype(np.float32)
        y = np.pad(y, (0, max(0, length - len(y))))[:length]
    if rng.random() < 0.5:  # envelope: an extra exponential decay, 60 ms .. 1 s time constant
        tau = np.exp(rng.uniform(np.log(0.06), np.log(1.0)))
        y = y * np.exp(-np.arange(length) / SAMPLE_RATE / tau).astype(np.float32)
    if rng.random() < 0.5:  # filtering in the frequency domain: low-pass, high-pass or tilt
        spec = np.fft.rfft(y)
        f = np.fft.rfftfreq(length, 1 / SAMPLE_RATE)
        kind = rng.integers(3)
        if kind == 0:
            fc = np.exp(rng.uniform(np.log(800), np.log(12000)))
            gain = 1 / np.sqrt(1 + (f / fc) ** 4)
        elif kind == 1:
            fc = np.exp(rng.uniform(np.log(60), np.log(2000)))
            gain = 1 / np.sqrt(1 + (fc / np.maximum(f, 1)) ** 4)
        else:
            slope = rng.uniform(-4, 4)  # dB per octave around 1 kHz
            gain = 10 ** (slope * np.log2(np.maximum(f, 20) / 1000) / 20)
        y = np.fft.irfft(spec * gain, n=length).astype(np.float32)
    if partner is not None:  # layering: a second sound underneath, 8..16 dB lower
        y = y + partner * 10 ** (-rng.uniform(8, 16) / 20)
    return to_oneshot(y, threshold_db=-50.0, length=length) if np.max(np.abs(y)) > 1e-4 else x


def augmented_set(waves: np.ndarray, classes: np.ndarray, train_idx: np.ndarray, variants: int, seed: int,
                  on_progress=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The augmented training set: every training sound once as is, plus `variants` random variants of it.

    (audio float32 [n, LENGTH], classes int16, origin int32: the row of `waves` each came from).
    The same arguments give the same set. on_progress(done, total) after each training sound.
    """
    rng = np.random.default_rng(seed)
    aug_audio, aug_classes, aug_origin = [], [], []
    for done, i in enumerate(train_idx, 1):
        aug_audio.append(waves[i]); aug_classes.append(classes[i]); aug_origin.append(i)
        for _ in range(variants):
            partner = waves[rng.choice(train_idx)] if rng.random() < 0.25 else None
            aug_audio.append(augment(waves[i], rng, partner)); aug_classes.append(classes[i]); aug_origin.append(i)
        if on_progress is not None:
            on_progress(done, len(train_idx))
    return np.stack(aug_audio).astype(np.float32), np.array(aug_classes, np.int16), np.array(aug_origin, np.int32)


# ---------------------------------------------------------------- build

def missing_sources() -> list[str]:
    """The Debian packages the data set is built from that this machine lacks (by what each provides)."""
    import shutil

    wanted = {"sonic-pi-samples": SONIC_PI.is_dir(), "fluid-soundfont-gm": SOUNDFONT.exists(),
              "fluidsynth": shutil.which("fluidsynth") is not None, "hydrogen-drumkits": HYDROGEN.is_dir()}
    return [package for package, present in wanted.items() if not present]


def build(out: Path, variants: int = 3, seed: int = 0, seconds: float = 1.0) -> dict:
    """The data set in `out`, every sound cut or padded to `seconds` (the model's window)."""
    missing = missing_sources()
    if missing:  # one sentence before any work, not a traceback from the first subprocess
        raise SystemExit(f"the drum data set is built from Debian packages, and {', '.join(missing)} "
                         f"{'is' if len(missing) == 1 else 'are'} not installed; run: "
                         f"apt-get install -y --no-install-recommends {' '.join(missing)} (or scripts/setup.sh bench as root)")
    out.mkdir(parents=True, exist_ok=True)
    records, audio = [], []
    length = int(round(seconds * SAMPLE_RATE))

    def add(x, file, cls, source, licence, split, kit, instrument=""):
        shot = to_oneshot(x, length=length)
        if shot is None:
            return
        records.append({"file": file, "source": source, "licence": licence, "class": cls or "", "split": split,
                        "kit": kit, "instrument": instrument})
        audio.append(shot)

    for path, cls, source, licence, kit in sonic_pi_sounds():
        add(load_audio(path), f"sonic-pi/samples/{path.name}", cls, source, licence, "train", kit)
    for x, file, cls, source, licence, kit in fluid_sounds(out / "raw", seconds):
        add(x, file, cls, source, licence, "train", kit)
    for path, cls, source, licence, split, author, name in hydrogen_sounds():
        add(load_audio(path), f"hydrogen/drumkits/{path.parent.name}/{path.name}", cls, source, licence, split,
            path.parent.name, name)

    classes = np.array([CLASSES.index(r["class"]) if r["class"] else -1 for r in records], np.int16)
    split = np.array([r["split"] for r in records])
    waves = np.stack(audio)
    np.savez(out / "sounds.npz", audio=(waves * 32767).astype(np.int16), classes=classes, split=split,
             source=np.array([r["source"] for r in records]), kit=np.array([r["kit"] for r in records]),
             files=np.array([r["file"] for r in records]))
    with open(out / "manifest.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["file", "source", "licence", "class", "split", "kit", "instrument"])
        writer.writeheader()
        writer.writerows(records)

    aug_audio, aug_classes, aug_origin = augmented_set(waves, classes, np.flatnonzero(split == "train"), variants, seed)
    np.savez(out / "train_aug.npz", audio=(aug_audio * 32767).astype(np.int16), classes=aug_classes, origin=aug_origin)

    summary = {"seconds": seconds, "sounds": len(records), "train": int((split == "train").sum()), "heldout": int((split == "heldout").sum()),
               "augmented_train": len(aug_audio), "per_source": {}, "per_class": {}}
    for r in records:
        key = f"{r['split']}:{r['source'].split('/')[0]}"
        summary["per_source"][key] = summary["per_source"].get(key, 0) + 1
        key = f"{r['split']}:{r['class'] or 'unlabelled'}"
        summary["per_class"][key] = summary["per_class"].get(key, 0) + 1
    (out / "summary.json").write_text(json.dumps(summary, indent=1, sort_keys=True))
    return summary


# ---------------------------------------------------------------- a folder as a producer has one

# sonic-pi-samples (CC0) loops, cut at their hits by `liveengine train`; the drum model never trained on them.
HELD_IN_LOOPS = ("loop_amen_full", "loop_tabla", "loop_safari", "loop_compus", "loop_mika", "loop_garzul")


def held_in_folder(out: Path, sounds: int = 200, new: int = 100) -> dict:
    """Write a folder of `sounds` sounds from the Debian packages the drum model may train on (never the held-out
    GPL and CC-BY-SA kits), laid out as `liveengine train` reads one, half of them new to the drum model:

    - `sounds - new` drum one-shots the drum model trained on (Sonic Pi's drum samples and the CC0/CC-BY hydrogen
      kits, interleaved): a subfolder per class (kick/, snare/, ...), unlabelled ones at the top;
    - `new` hits of Sonic Pi's loops (drum breaks, tabla, percussion), at the top as whole files that train cuts
      at their hits (the last one shortened to make up the count): sounds the drum model has never heard.

    Files are copied as they are. Returns {"files", "sounds", "from": {source: files}, "new_files": [names]}.
    Needs sonic-pi-samples and hydrogen-drumkits.
    """
    import shutil

    import soundfile as sf

    from liveengine.audio_files import read_audio
    from liveengine.library.index import file_sounds

    one_shots = [(path, cls, "sonic-pi") for path, cls, *_ in sonic_pi_sounds()]
    kits = [(path, cls, f"{source.split('/')[-1]}") for path, cls, source, _, split, *_ in hydrogen_sounds() if split == "train"]
    if not one_shots or not kits:
        raise FileNotFoundError("held_in_folder needs sonic-pi-samples and hydrogen-drumkits (apt-get install them)")
    order = [x for pair in zip(one_shots, kits) for x in pair] + one_shots[len(kits):] + kits[len(one_shots):]
    out.mkdir(parents=True, exist_ok=True)
    count, used, new_files, per_class = 0, {}, [], {}
    for path, cls, source in order:
        cut = len(file_sounds(read_audio(path, SAMPLE_RATE), SAMPLE_RATE, LENGTH))
        if cut == 0 or count + cut > sounds - new:
            continue
        target = (out / cls if cls else out) / f"{source}-{path.name}"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
        count += cut
        used[source] = used.get(source, 0) + 1
        per_class[cls] = per_class.get(cls, 0) + cut
    for cls, n in per_class.items():  # a class of one sound cannot be both trained on and checked: it goes unlabelled
        if cls and n == 1:
            for file in (out / cls).iterdir():
                file.rename(out / file.name)
            (out / cls).rmdir()
    for name in HELD_IN_LOOPS:
        if count >= sounds:
            break
        loop = read_audio(SONIC_PI / f"{name}.flac", SAMPLE_RATE)
        hits = file_sounds(loop, SAMPLE_RATE, LENGTH)
        take = min(len(hits), sounds - count)
        target = f"sonic-pi-{name}.flac"
        if take == len(hits):
            shutil.copyfile(SONIC_PI / f"{name}.flac", out / target)
        else:  # the first hits, cut just before the next one, then silence: more than 2 s, so that train cuts it too
            while True:
                clip = loop[: int(round(hits[take][0] * SAMPLE_RATE))]
                clip = np.concatenate([clip, np.zeros(max(0, 2 * LENGTH + SAMPLE_RATE // 10 - len(clip)), np.float32)])
                found = len(file_sounds(clip, SAMPLE_RATE, LENGTH))
                if found <= sounds - count:
                    break
                take -= 1  # the cut can split a hit in two
            take = found
            target = f"sonic-pi-{name}-first-{take}.wav"
            sf.write(str(out / target), clip, SAMPLE_RATE, subtype="FLOAT")
        count += take
        new_files.append(target)
        used["sonic-pi loops"] = used.get("sonic-pi loops", 0) + 1
    if count < sounds:
        raise ValueError(f"the held-in sources gave {count} sounds, {sounds} were asked for")
    return {"files": sum(used.values()), "sounds": count, "from": used, "new_files": new_files}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("training_data"))
    parser.add_argument("--variants", type=int, default=3, help="augmented variants per training sound")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--seconds", type=float, default=1.0,
                        help="the window every sound is cut or padded to (a model for ringing sounds needs more than 1 s)")
    args = parser.parse_args(argv)
    if not 0.1 <= args.seconds <= 10.0:
        parser.error(f"--seconds {args.seconds:g} is out of range; allowed 0.1 to 10")
    summary = build(args.out, args.variants, args.seed, args.seconds)
    print(json.dumps(summary, indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
