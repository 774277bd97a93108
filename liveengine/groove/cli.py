"""`liveengine render-grooves PATCH --out DIR`: every groove pad as a 2-bar MIDI clip and a WAV played with the kit.

Per groove pad (row, col): `groove_r{row}_c{col}.mid` (channel 10, General MIDI drum keys, at the
patch's [groove] bpm, 480 ticks a beat, with the patch's density, swing, humanise and dynamics),
`groove_r{row}_c{col}.wav` (the same two bars through the engine offline, with the kit's pads,
and the last hits' decay), and `grooves.json` (each pad's latent point, density, hits and the
nearest training groove's style; the library files skipped, and why). Refuses a folder that holds files unless --force.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from liveengine.errors import LiveEngineError

TICKS_PER_BEAT = 480
NOTE_TICKS = 60  # a 32nd: drum notes are one-shots, the length only keeps DAWs from showing zero-length notes


def add_commands(commands, debug: argparse.ArgumentParser) -> None:
    grooves = commands.add_parser("render-grooves", parents=[debug],
                                  help="write every groove pad as a 2-bar MIDI clip and a WAV played with the kit, plus grooves.json, into a folder")
    grooves.add_argument("patch", help="a .toml patch file (with a [groove] model) or a shipped patch name")
    grooves.add_argument("--out", required=True, metavar="DIR", help="a new or empty folder")
    grooves.add_argument("--force", action="store_true", help="write into a folder that holds files, replacing its groove files")
    grooves.set_defaults(run=cmd_render_grooves)


def write_clip(path: Path, events: list, first_frame: int, frames_per_beat: float, bpm: float, voices_to_notes) -> None:
    """A type-0 MIDI file of `events` (groove sequencer Events), their frames as ticks from `first_frame`."""
    import mido

    midi = mido.MidiFile(type=0, ticks_per_beat=TICKS_PER_BEAT)
    track = mido.MidiTrack()
    midi.tracks.append(track)
    track.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm), time=0))
    track.append(mido.MetaMessage("time_signature", numerator=4, denominator=4, time=0))
    timed = []
    for event in events:
        tick = max(0, int(round((event.frame - first_frame) / frames_per_beat * TICKS_PER_BEAT)))
        note, velocity = voices_to_notes[event.voice], max(1, min(127, int(round(event.velocity * 127))))
        timed += [(tick, 1, mido.Message("note_on", channel=9, note=note, velocity=velocity)),
                  (tick + NOTE_TICKS, 0, mido.Message("note_off", channel=9, note=note, velocity=0))]
    now = 0
    for tick, _, message in sorted(timed, key=lambda t: (t[0], t[1])):
        track.append(message.copy(time=tick - now))
        now = tick
    track.append(mido.MetaMessage("end_of_track", time=max(0, 8 * TICKS_PER_BEAT - now)))
    midi.save(str(path))


def render_grooves(patch, out: Path, force: bool = False, on_progress=None, say=None) -> list[dict]:
    """Render every groove pad (see the module docstring); returns grooves.json's pad entries.
    say(text), where given, hears once which groove library files were skipped and why."""
    import soundfile

    from liveengine.audio.offline import OfflineBackend
    from liveengine.engine import Engine
    from liveengine.export.grid_export import check_out_dir
    from liveengine.groove.page import skipped_line
    from liveengine.groove.pattern import VOICE_TO_NOTE

    check_out_dir(out, force, "render-grooves", "Pass --force to replace the groove files in it.")
    if not patch.groove.get("model"):
        raise LiveEngineError(f"patch {patch.name} has no [groove] model, so it has no grooves to render.",
                              'Add [groove] model = "grooves" to it.')
    options = patch.options()
    engine = Engine(patch, options)
    rate, block = options.samplerate, options.blocksize
    try:
        engine.wait_rendered()
        backend = OfflineBackend(rate, block, options.channels)
        engine.start(backend)
        groove = engine.groove
        if groove.page.skipped and say is not None:
            say(skipped_line(groove.page.skipped))
        seq = groove.sequencer
        bars = 2 * 16 * seq.tempo.frames_per_step
        tail = int(patch.engine["max_seconds"] * rate)
        rows, cols = groove.page.setting.rows, groove.page.setting.cols
        rendered = []
        for pad in range(rows * cols):
            row, col = divmod(pad, cols)
            first = backend.frame
            start = first + 4 * block
            blocks: list[np.ndarray] = []
            seq.events.clear()
            groove.pad(row, col, start, start)
            end = start + int(round(bars))
            backend.run(end - backend.frame, groove.feed, lambda out_block: blocks.append(out_block[:, 0].copy()))
            seq.stop()
            waited = 0
            while engine.voices() > 0 and waited < tail:
                backend.run(8 * block, None, lambda out_block: blocks.append(out_block[:, 0].copy()))
                waited += 8 * block
            audio = np.concatenate(blocks)[start - first:]
            events = [e for e in seq.events if start <= e.frame < end]
            rendered.append((row, col, audio, events, start))
            if on_progress is not None:
                on_progress(pad + 1, rows * cols)
        counts = {"late_bars": seq.late_bars, "dropped": seq.dropped + groove.rejected, "not_ready": engine.not_ready}
        perf = seq.performance
        frames_per_beat = seq.tempo.frames_per_step * groove.model.steps_per_beat
        entries = []
        out.mkdir(parents=True, exist_ok=True)
        for (row, col, audio, events, start), z in zip(rendered, groove.page.points):
            stem = f"groove_r{row}_c{col}"
            write_clip(out / f"{stem}.mid", events, start, frames_per_beat, seq.tempo.bpm, VOICE_TO_NOTE)
            soundfile.write(str(out / f"{stem}.wav"), np.clip(audio, -1.0, 1.0), rate, subtype="PCM_24")
            entries.append({"row": row, "col": col, "midi": f"{stem}.mid", "wav": f"{stem}.wav", "latent": [round(float(v), 5) for v in z],
                            "density": perf.density, "hits": len(events), "nearest_training_style": groove.nearest_style(z)})
        summary = {"patch": patch.name, "model": groove.model.name, "model_identity": groove.model.identity, "bpm": seq.tempo.bpm,
                   "bars": 2, "samplerate": rate, "swing": perf.swing, "humanise": perf.humanise, "dynamics": perf.dynamics,
                   "kit": {voice: list(pad) for voice, pad in groove._kit().items()}, "counts": counts,
                   "skipped_library_files": groove.page.skipped, "pads": entries}
        (out / "grooves.json").write_text(json.dumps(summary, indent=1) + "\n")
        return entries
    finally:
        engine.stop()


def cmd_render_grooves(args) -> int:
    from liveengine.cli_support import Progress, load_patch_arg, say
    from liveengine.output_paths import check_output

    patch = load_patch_arg(args.patch)
    out = Path(args.out)
    check_output(out, "--out", "Choose an --out folder you can write to.", folder=True)
    entries = render_grooves(patch, out, args.force, on_progress=Progress("rendering grooves"), say=say)
    say(f"Wrote {len(entries)} grooves ({patch.groove['rows']}x{patch.groove['cols']}, {patch.groove['bpm']:g} BPM) to {out}: "
        "groove_r{row}_c{col}.mid and .wav, and grooves.json.")
    return 0
