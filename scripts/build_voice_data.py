"""Build the streaming voice model's data: monophonic phrases rendered with FluidSynth, labelled by our tracker.

    apt-get install -y fluidsynth fluid-soundfont-gm      # training only, not needed to play
    python scripts/build_voice_data.py                    # writes training_data/voices/ (gitignored)

Each of the six instruments (liveengine/training/voices_config.py: violin, cello, trumpet, clarinet,
flute, choir from FluidR3_GM.sf2, MIT) plays seeded random phrases within its range: notes of 0.12
to 0.9 s stepping through a major or minor scale, short gaps and rests, a velocity per note, a slow
expression curve (CC11) for dynamics and pitch-bend vibrato (4.5 to 6.5 Hz, up to 40 cents, starting
after each note's attack). Reverb and chorus are off. FluidSynth renders at 48 kHz; soxr resamples
to the training rate. Labels: f0, loudness and confidence per 5 ms frame from
liveengine.stream.tracker.CausalTracker, the tracker used live.

The held-out phrases come from a different seed range and are never trained on.

Output: `phrases.npz` (per phrase: int16 audio at the training rate, f0_hz, loudness_db,
confidence, instrument index, split) and `manifest.csv` (phrase, instrument, program, split, seed,
seconds, sha256 of the int16 audio). The manifest is copied next to the shipped model
(models_onnx/voices/dataset.csv), so a rebuild can be compared hash by hash.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from liveengine.stream.tracker import CausalTracker  # noqa: E402
from liveengine.training.voices_config import F0_RANGE_HZ, INSTRUMENTS, RATES, SAMPLE_RATE, hop  # noqa: E402

SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
RENDER_RATE = 48000
TICKS_PER_SECOND = 960  # 480 ticks per beat at 120 bpm
SCALES = ((0, 2, 4, 5, 7, 9, 11), (0, 2, 3, 5, 7, 8, 10))
HELDOUT_SEED_BASE = 100000


def phrase_events(rng: np.random.Generator, low: int, high: int, seconds: float) -> list[tuple[float, object]]:
    """(time in s, mido message) for one phrase on channel 0, sorted by time."""
    import mido

    root = int(rng.integers(0, 12))
    scale = SCALES[int(rng.integers(0, 2))]
    pitches = [n for n in range(low, high + 1) if (n - root) % 12 in scale]
    index = int(rng.integers(len(pitches) // 4, 3 * len(pitches) // 4 + 1))
    events: list[tuple[float, object]] = []
    t = 0.1
    while t < seconds - 0.4:
        duration = float(rng.uniform(0.12, 0.9))
        note = pitches[index]
        events.append((t, mido.Message("note_on", note=note, velocity=int(rng.integers(40, 121)))))
        depth = float(rng.uniform(0, 40)) if rng.random() < 0.7 else 0.0  # cents
        rate = float(rng.uniform(4.5, 6.5))
        for k in range(int(duration / 0.01)):  # pitch bend every 10 ms: vibrato after the attack
            s = k * 0.01
            cents = depth * min(1.0, max(0.0, (s - 0.15) / 0.2)) * np.sin(2 * np.pi * rate * s)
            events.append((t + s, mido.Message("pitchwheel", pitch=int(np.clip(round(cents / 200 * 8191), -8192, 8191)))))
        events.append((t + duration, mido.Message("note_off", note=note)))
        t += duration + (float(rng.uniform(0.2, 0.6)) if rng.random() < 0.15 else float(rng.uniform(0.0, 0.06)))
        index = int(np.clip(index + rng.choice([-3, -2, -1, -1, 0, 1, 1, 2, 3, 4, -4]), 0, len(pitches) - 1))
    # expression: a slow curve, every 20 ms
    phases = rng.uniform(0, 2 * np.pi, 3)
    rates = rng.uniform(0.1, 0.7, 3)
    for s in np.arange(0.0, seconds, 0.02):
        curve = 0.5 + 0.5 * np.mean(np.sin(2 * np.pi * rates * s + phases))
        events.append((float(s), mido.Message("control_change", control=11, value=int(round(45 + 82 * curve)))))
    return sorted(events, key=lambda e: (e[0], e[1].type != "note_off"))


def write_midi(path: Path, program: int, events) -> None:
    import mido

    mid = mido.MidiFile(ticks_per_beat=480)
    track = mido.MidiTrack()
    mid.tracks.append(track)
    track.append(mido.MetaMessage("set_tempo", tempo=500000))
    track.append(mido.Message("program_change", program=program, time=0))
    last = 0
    for t, msg in events:
        tick = int(round(t * TICKS_PER_SECOND))
        track.append(msg.copy(time=tick - last))
        last = tick
    mid.save(str(path))


def render(program: int, events, seconds: float, rate: int = SAMPLE_RATE) -> np.ndarray:
    import soundfile as sf
    import soxr

    with tempfile.TemporaryDirectory() as tmp:
        mid, wav = Path(tmp) / "phrase.mid", Path(tmp) / "phrase.wav"
        write_midi(mid, program, events)
        subprocess.run(["fluidsynth", "-n", "-i", "-q", "-r", str(RENDER_RATE), "-g", "3.0",
                        "-o", "audio.file.format=float", "-o", "synth.reverb.active=0", "-o", "synth.chorus.active=0",
                        "-F", str(wav), str(SOUNDFONT), str(mid)], check=True, capture_output=True)
        audio, sr = sf.read(str(wav), dtype="float32", always_2d=True)
    mono = audio.mean(axis=1)
    mono = soxr.resample(mono, sr, rate) if sr != rate else mono
    n = int(seconds * rate) // hop(rate) * hop(rate)
    return np.pad(mono, (0, max(0, n - len(mono))))[:n].astype(np.float32)


def build(out: Path, train_per_instrument: int, heldout_per_instrument: int, seconds: float, rate: int = SAMPLE_RATE) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    audio, f0, loud, conf, inst, split, rows = [], [], [], [], [], [], []
    for i, (name, (program, low, high)) in enumerate(INSTRUMENTS.items()):
        plan = [("train", 1000 * i + k) for k in range(train_per_instrument)]
        plan += [("heldout", HELDOUT_SEED_BASE + 1000 * i + k) for k in range(heldout_per_instrument)]
        for part, seed in plan:
            rng = np.random.default_rng(seed)
            x = render(program, phrase_events(rng, low, high, seconds), seconds, rate)
            peak = float(np.abs(x).max())
            if peak > 0.99:  # keep the render's dynamics, only avoid clipping
                x *= 0.99 / peak
            pcm = np.round(x * 32767).astype(np.int16)
            tracker = CausalTracker(rate, hop(rate), *F0_RANGE_HZ)
            labels = tracker.push(pcm.astype(np.float32) / 32767)
            audio.append(pcm)
            f0.append(labels[0]), loud.append(labels[1]), conf.append(labels[2])
            inst.append(i), split.append(part)
            rows.append({"phrase": f"{name}-{seed}", "instrument": name, "program": program, "split": part, "seed": seed,
                         "seconds": len(pcm) / rate, "sha256": hashlib.sha256(pcm.tobytes()).hexdigest()})
            print(f"{rows[-1]['phrase']}: peak {peak:.2f}, voiced {np.mean(labels[2] > 0.5):.0%}", flush=True)
    np.savez(out / "phrases.npz", audio=np.stack(audio), f0_hz=np.stack(f0), loudness_db=np.stack(loud),
             confidence=np.stack(conf), instrument=np.array(inst, np.int16), split=np.array(split),
             names=np.array(list(INSTRUMENTS)), sample_rate=rate, hop=hop(rate))
    with open(out / "manifest.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return {"phrases": len(rows), "train": split.count("train"), "heldout": split.count("heldout")}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("training_data/voices"))
    parser.add_argument("--train", type=int, default=40, help="training phrases per instrument")
    parser.add_argument("--heldout", type=int, default=6, help="held-out phrases per instrument")
    parser.add_argument("--seconds", type=float, default=8.0, help="length of each phrase")
    parser.add_argument("--rate", type=int, default=SAMPLE_RATE, choices=RATES,
                        help="training rate: 16000 for `voices`, 32000 for `voices2` (training_data/voices32)")
    args = parser.parse_args(argv)
    if not SOUNDFONT.exists():
        raise SystemExit(f"{SOUNDFONT} is missing: apt-get install -y fluidsynth fluid-soundfont-gm")
    print(build(args.out, args.train, args.heldout, args.seconds, args.rate))


if __name__ == "__main__":
    main()
