"""CLI glue for `liveengine audition` (one pad) and `liveengine generate` (new sounds); cli.py registers them with add_commands()."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from liveengine.errors import LiveEngineError
from liveengine.export.cli import _count

AUDITION_TAIL = 0.3  # s played after the pad's sound: the device's latency, so its end is heard


def add_commands(commands, debug: argparse.ArgumentParser, samplerate_type) -> None:
    """Add `audition` and `generate` to `commands` (argparse subparsers); each sets `run` to its handler."""
    audition = commands.add_parser("audition", parents=[debug],
                                   help="play one pad of a patch (with no audio device, or with --out: write it to a WAV file)")
    audition.add_argument("patch", help="a .toml patch file or a shipped patch name")
    audition.add_argument("row", type=_index, help="row of the pad, 0 at the bottom")
    audition.add_argument("col", type=_index, help="column of the pad, 0 at the left")
    audition.add_argument("--device", help="output device name (or part of it) or index; see `liveengine devices`")
    audition.add_argument("--out", metavar="FILE.wav",
                          help="write the pad to this file instead of playing it (with no audio device: pad_rROW_cCOL.wav)")
    audition.add_argument("--force", action="store_true", help="replace the file if it exists")
    audition.set_defaults(run=cmd_audition)

    generate = commands.add_parser("generate", parents=[debug],
                                   help="write new sounds (random, variations of a file, mixes of files) as WAVs with their latent points")
    generate.add_argument("patch", help="a .toml patch file or a shipped patch name: its model makes the sounds")
    generate.add_argument("--out", required=True, metavar="DIR", help="a new or empty folder")
    generate.add_argument("-n", type=_count, help="how many sounds (default 8; 1 where all would be the same: --variance 0, a plain mix)")
    generate.add_argument("--seed", type=_seed, help="seed of the random points (default: a new one, printed); the same seed gives the same sounds")
    generate.add_argument("--from", dest="sources", nargs="+", metavar="FILE",
                          help="audio file(s) to encode (needs a model with an encoder): one file for variations of it, several to mix")
    generate.add_argument("--variance", type=float,
                          help="with --from: standard deviation of the variations, in prior units, 0 to 4 (default 0.5 for one file, 0 for a mix)")
    generate.add_argument("--weights", nargs="+", type=float, metavar="W",
                          help="with --from: one weight per file, negative ones subtract (default: equal weights summing to 1)")
    generate.add_argument("--samplerate", type=samplerate_type, help="rate of the WAV files (default: the patch's [audio] samplerate)")
    generate.add_argument("--float", action="store_true", help="32-bit float WAV instead of 24-bit PCM")
    generate.set_defaults(run=cmd_generate)


def _whole(text: str, what: str, low: int, high: int) -> int:
    from liveengine.cli_support import _parsed

    value = _parsed(text, int)
    if value is None or not low <= value <= high:
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}; allowed: {low} to {high}")
    return value


def _index(text: str) -> int:
    return _whole(text, "a row or column", 0, 15)  # the grid is at most 16x16; the patch's own size is checked after loading it


def _seed(text: str) -> int:
    return _whole(text, "a seed", 0, 2**31 - 1)


def cmd_audition(args) -> int:
    from liveengine.cli_support import load_patch_arg, patch_device, say
    from liveengine.engine import Engine
    from liveengine.grid.anchors import patch_setting

    patch = load_patch_arg(args.patch)
    setting = patch_setting(patch)
    for name, value, size in (("row", args.row, setting.rows), ("column", args.col, setting.cols)):
        if value >= size:
            raise LiveEngineError(f"{name} {value} is outside patch {patch.name}'s {setting.rows}x{setting.cols} grid; "
                                  f"allowed: 0 to {size - 1}{' (0 at the bottom)' if name == 'row' else ''}.")
    if args.out:
        out = _new_wav(Path(args.out), args.force, "--out", "Choose a --out file in a folder you can write to.")
        return _write_pad(patch, args.row, args.col, out)
    options = patch.options()
    engine = Engine(patch, options)
    try:
        engine.wait_rendered()
        try:
            engine.start(patch_device(patch, options, args.device))
        except LiveEngineError as exc:
            if "no audio output device" not in exc.message:
                raise
        else:
            from liveengine.commands import make_command

            buffer = engine.instrument.cache.get(setting.pad_index(args.row, args.col))
            engine.submit(make_command("/pad", (args.row, args.col)))
            description = buffer.description
            say(f"playing pad ({args.row}, {args.col}) of patch '{patch.name}' on {engine.backend.description}: "
                + (f"{description.drum_class} ({description.probability:.0%}), " if description.drum_class else "")
                + f"{description.loudness_db:.1f} dBFS, {len(buffer.samples) / options.samplerate:.2f} s")
            time.sleep(len(buffer.samples) / options.samplerate + AUDITION_TAIL)
            return 0
    finally:
        engine.stop()
    out = _new_wav(Path(f"pad_r{args.row}_c{args.col}.wav"), args.force, "the pad file",
                   "Run audition in a folder you can write to, or pass --out with one.")
    say(f"No audio output device found on this machine, so liveengine writes pad ({args.row}, {args.col}) "
        f"of patch '{patch.name}' to {out.resolve()} instead.")
    return _write_pad(patch, args.row, args.col, out)


def _new_wav(out: Path, force: bool, what: str, fix: str) -> Path:
    """`out`, checked before any rendering: a .wav name, not an existing file unless `force`, in a place that
    can be written (missing folders are fine: _write_pad creates them). `what` and `fix` word a refusal."""
    from liveengine.output_paths import check_output

    if out.suffix.lower() != ".wav":
        raise LiveEngineError(f"--out {out} must end in .wav.")
    if out.exists() and not force:
        raise LiveEngineError(f"{out} already exists; liveengine never overwrites it silently.", "Choose another file with --out, or add --force.")
    check_output(out, what, fix)
    return out


def _write_pad(patch, row: int, col: int, out: Path) -> int:
    """Write one pad as render-grid writes it (the engine's render path, 24-bit at the patch's rate)."""
    import soundfile

    from liveengine.cli_support import say
    from liveengine.decoders.registry import load_decoder
    from liveengine.export.cli import patch_grid
    from liveengine.export.grid_export import FORMATS, export_gain, render_pads

    decoder = load_decoder(patch.model, patch.path, **patch.model_options)
    rows, cols, points = patch_grid(patch, decoder)
    rate = patch.audio["samplerate"]
    [buffer] = render_pads(decoder, points[row * cols + col : row * cols + col + 1], rate, patch.engine["max_seconds"])
    samples = buffer.samples * export_gain([buffer], "pcm24")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)  # as render --out and play --record do
        soundfile.write(out, samples, rate, subtype=FORMATS["pcm24"], format="WAV")
    except (OSError, RuntimeError) as exc:  # soundfile reports a folder that is not there as a RuntimeError
        raise LiveEngineError(f"cannot write {out}: {exc}.") from None
    description = buffer.description
    say(f"Wrote pad ({row}, {col}) to {out} ({len(samples) / rate:.2f} s, {rate} Hz, 24-bit"
        + (f"; {description.drum_class}, {description.probability:.0%}" if description.drum_class else "") + ").")
    return 0


def cmd_generate(args) -> int:
    import secrets

    from liveengine.cli_support import Progress, load_patch_arg, say, told
    from liveengine.decoders.registry import load_decoder
    from liveengine.export.generate import Interrupted, Recipe, generate
    from liveengine.export.grid_export import check_out_dir

    seed = args.seed if args.seed is not None else secrets.randbelow(2**31)
    recipe = Recipe(seed, args.n, tuple(Path(p) for p in args.sources or ()), tuple(args.weights) if args.weights else None, args.variance)
    patch = load_patch_arg(args.patch)
    out = Path(args.out)
    check_out_dir(out, False, "generate", "Choose a new folder for --out, or empty this one.")  # before the model loads: quick
    decoder = load_decoder(patch.model, patch.path, **patch.model_options)
    rate = args.samplerate or patch.audio["samplerate"]
    try:
        with Progress("rendering sounds") as progress:
            sounds = generate(out, decoder, recipe, rate, max_seconds=patch.engine["max_seconds"],
                              sample_format="float" if args.float else "pcm24",
                              source={"patch": patch.name, "patch_file": patch.path.name}, on_progress=progress)
    except Interrupted as stop:  # as render says what its WAV kept; cli.main exits 130
        kept = stop.sounds
        if kept:
            said = (f"stopped by Ctrl-C; {out} keeps the first {len(kept)} of {stop.asked} sounds as complete WAV files "
                    f"({kept[0]['file']}{' ... ' + kept[-1]['file'] if len(kept) > 1 else ''}, seed {seed}), with generate.json; "
                    f"the other {stop.asked - len(kept)} were not written.")
        else:
            said = f"stopped by Ctrl-C before the first of {stop.asked} sounds was written; nothing was written to {out}."
        raise told(stop, said)
    say(f"Wrote {len(sounds)} sound{'s' if len(sounds) != 1 else ''} ({recipe.summary}, seed {seed}, model {decoder.name}) to {out}: "
        f"{sounds[0]['file']}{' ... ' + sounds[-1]['file'] if len(sounds) > 1 else ''}, with generate.json (latent points, descriptions).")
    return 0
