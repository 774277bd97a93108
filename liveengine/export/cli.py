"""CLI glue for `liveengine render-grid` and `liveengine similar`; cli.py registers them with add_commands()."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np


def add_commands(commands, debug: argparse.ArgumentParser, samplerate_type) -> None:
    """Add the export subcommands to `commands` (argparse subparsers); each sets `run` to its handler."""
    grid = commands.add_parser("render-grid", parents=[debug],
                               help="write every pad as a WAV file, plus SFZ, Decent Sampler and JSON maps, into a folder")
    grid.add_argument("patch", help="a .toml patch file or a shipped patch name")
    grid.add_argument("--out", required=True, metavar="DIR", help="a new or empty folder")
    grid.add_argument("--force", action="store_true", help="write into a folder that holds files, replacing its pad files and maps")
    grid.add_argument("--samplerate", type=samplerate_type, help="rate of the WAV files (default: the patch's [audio] samplerate)")
    grid.add_argument("--float", action="store_true", help="32-bit float WAV instead of 24-bit PCM")
    grid.add_argument("--png", nargs="?", const="grid.png", type=_png_name, metavar="NAME",
                      help="also draw every pad's spectrogram and class, laid out as the pads, into this picture in --out (default name: grid.png)")
    grid.set_defaults(run=cmd_render_grid)

    similar = commands.add_parser("similar", parents=[debug], help="list the sounds in a library folder nearest to a file, in latent space")
    similar.add_argument("file", help="an audio file: the sound to search for (its first hit)")
    similar.add_argument("--library", required=True, metavar="DIR", help="a folder of audio files, searched recursively")
    which = similar.add_mutually_exclusive_group()
    which.add_argument("--model", metavar="NAME|DIR", help="a model folder (or a name in models_onnx/) with encoder.onnx")
    which.add_argument("--patch", help="use this patch's model (default: the default patch)")
    similar.add_argument("-n", type=_count, default=10, help="how many to list (default 10)")
    similar.add_argument("--cache", metavar="DIR", help="where the library index is kept (default: the user cache folder)")
    similar.set_defaults(run=cmd_similar)


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= 10000:
        raise argparse.ArgumentTypeError(f"{text!r} is not a count; allowed: 1 to 10000")
    return value


def _png_name(text: str) -> str:
    if Path(text).name != text or not text.lower().endswith(".png") or text.lower() == ".png":
        raise argparse.ArgumentTypeError(f"{text!r} is not a picture name; allowed: a file name ending in .png, written inside --out")
    return text


def patch_grid(patch, decoder):
    """(rows, cols, float32[rows * cols, latent_dim]): the points the engine lays the patch's grid on at load.

    The same steps as Engine._build_instrument and Engine._render: the patch's grid setting,
    its mapping built for this decoder, each pad's view-plane position through the mapping.
    """
    from liveengine.grid.anchors import build_mapping, pad_points, patch_setting

    setting = patch_setting(patch)
    return setting.rows, setting.cols, pad_points(setting, build_mapping(setting.mapping, decoder, patch, setting))


def cmd_render_grid(args) -> int:
    from liveengine.cli_support import Progress, load_patch_arg, say
    from liveengine.decoders.registry import load_decoder
    from liveengine.export.grid_export import check_out_dir, export_grid
    from liveengine.output_paths import check_output

    patch = load_patch_arg(args.patch)
    out = Path(args.out)
    check_out_dir(out, args.force)  # before the model loads: a refusal should be quick
    check_output(out, "--out", "Choose an --out folder you can write to.", folder=True)
    decoder = load_decoder(patch.model, patch.path, **patch.model_options)
    rows, cols, points = patch_grid(patch, decoder)
    rate = args.samplerate or patch.audio["samplerate"]
    source = {"patch": patch.name, "patch_file": patch.path.name, "mapping": patch.grid.get("mapping", "plane"),
              "max_seconds": patch.engine["max_seconds"], "normalize": patch.model_options.get("normalize")}
    pads, gain = export_grid(out, decoder, points, rows, cols, rate, max_seconds=patch.engine["max_seconds"],
                             sample_format="float" if args.float else "pcm24", force=args.force, source=source,
                             on_progress=Progress("rendering pads"))
    if gain < 1.0:
        say(f"The loudest pad would clip a 24-bit file: every pad is {-20 * np.log10(gain):.2f} dB quieter "
            "(grid.json gain_db; --float keeps the levels).")
    unmapped = sum(1 for p in pads if p.note is None)
    notes = [p.note for p in pads if p.note is not None]
    say(f"Wrote {len(pads)} pads ({rows}x{cols}, {rate} Hz, {'32-bit float' if args.float else '24-bit'} WAV) to {out}: "
        f"grid.sfz and grid.dspreset map them to notes {notes[0]}..{notes[-1]}"
        + (f" ({unmapped} pads beyond note 127 are in grid.json only)" if unmapped else "") + ", grid.json describes them.")
    if args.png:
        from liveengine.export.pictures import save_png, spectrogram_sheet

        classes = [p.description["class"] for p in pads]
        save_png(spectrogram_sheet([p.samples for p in pads], rate, rows, cols, classes,
                                   title=f"{patch.name}: {decoder.name}, {rows}x{cols} pads"), out / args.png)
        say(f"{args.png} shows each pad's spectrogram" + (" and class" if any(classes) else "") + ", row 0 at the bottom.")
    return 0


def _similar_decoder(args):
    from liveengine.cli_support import load_patch_arg
    from liveengine.decoders.registry import load_decoder

    if args.model:
        # A folder path given on the command line is relative to the working folder; a bare name may be a shipped model.
        return load_decoder(args.model, Path.cwd() / "command-line")
    patch = load_patch_arg(args.patch)
    return load_decoder(patch.model, patch.path, **patch.model_options)


def cmd_similar(args) -> int:
    from liveengine.cli_support import Progress, say, told
    from liveengine.library.index import IndexInterrupted, default_cache_dir, encode_sounds, library_files, load_or_build, query_sound
    from liveengine.output_paths import check_output

    library = Path(args.library)
    library_files(library)  # an empty or missing folder is reported before any model loads
    cache = Path(args.cache) if args.cache else default_cache_dir()
    check_output(cache, "--cache" if args.cache else "the index cache folder",
                 "Choose a --cache folder you can write to." if args.cache else "Set LIVEENGINE_CACHE, or pass --cache, with a folder you can write to.",
                 folder=True)
    decoder = _similar_decoder(args)
    try:
        with Progress("indexing library") as progress:
            index = load_or_build(decoder, library, cache, on_progress=progress)
    except IndexInterrupted as stop:  # as render says what its WAV kept; cli.main exits 130
        if stop.kept:
            said = (f"stopped by Ctrl-C while indexing {library}; the index in {stop.path.parent} keeps {stop.kept} of its "
                    f"{stop.total} files ({stop.sounds} sounds): the next run encodes only the rest.")
        else:
            said = f"stopped by Ctrl-C while indexing {library}, before any new file was encoded; nothing new was saved in {stop.path.parent}."
        raise told(stop, said)
    start, sound = query_sound(Path(args.file), decoder)
    point = encode_sounds(decoder, [sound])[0]
    state = {"built": "built", "updated": "updated (files changed)", "cached": "up to date"}[index.status]
    say(f"library {library}: {len(index.files)} files, {len(index.entries)} sounds; index {state}; model {decoder.name} ({decoder.identity})")
    if index.skipped:
        names = list(index.skipped.items())
        shown = "; ".join(f"{name} {reason}" for name, reason in names[:10])
        say(f"skipped {len(names)} unreadable file{'s' if len(names) > 1 else ''}: {shown}" + (f"; and {len(names) - 10} more" if len(names) > 10 else ""))
    say(f"nearest to {args.file}" + (f" (its first hit, at {start:.3f} s)" if start > 0.01 else "") + ":")
    say(f"{'rank':>4}  {'distance':>8}  {'start s':>7}  file")
    for rank, (name, seconds, distance) in enumerate(index.nearest(point, args.n), 1):
        say(f"{rank:>4}  {distance:8.4f}  {seconds:7.3f}  {name}")
    return 0
