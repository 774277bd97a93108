"""Pictures: `liveengine render-grid --png` as a user runs it, the sheet's pad layout and titles, the confusion matrix.

The PNGs are decoded back (matplotlib's reader); titles and labels are read from the figures that were saved.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

from liveengine.decoders.onnx_decoder import OnnxDecoder
from liveengine.decoders.registry import load_decoder
from liveengine.export.cli import patch_grid
from liveengine.export.grid_export import render_pads
from liveengine.export.pictures import confusion_figure, pad_order, save_png, sheet_titles, spectrogram_sheet
from liveengine.patch import load_patch
from liveengine.testing.models import build_audio_decoder, build_classifier, contract_metadata

REPO = Path(__file__).resolve().parents[2]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
CLASSES = ["kick", "snare", "hat"]
SMALL = '[model]\ndecoder = "builtin:testsynth"\n[grid]\nrows = 4\ncols = 4\n[engine]\nmax_seconds = 0.1\n'


def liveengine(*args: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "liveengine", *args], cwd=cwd, capture_output=True, text=True, timeout=60)


def test_render_grid_png_draws_the_sheet_and_never_overwrites_it(tmp_path):
    (tmp_path / "small.toml").write_text(SMALL)
    result = liveengine("render-grid", "small.toml", "--out", "grid", "--png", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "grid.png shows each pad's spectrogram, row 0 at the bottom." in result.stdout  # testsynth has no classes
    picture = tmp_path / "grid" / "grid.png"
    before = picture.read_bytes()
    assert before.startswith(PNG_SIGNATURE)
    image = imread(picture)
    height, width, channels = image.shape
    assert 400 <= height <= 2000 and 500 <= width <= 2000 and channels in (3, 4)
    assert image[..., :3].std() > 0.05  # drawn, not blank
    assert (tmp_path / "grid" / "pad_r3_c3.wav").is_file()  # beside the WAVs

    result = liveengine("render-grid", "small.toml", "--out", "grid", "--png", cwd=tmp_path)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert lines[0].startswith("liveengine: --out grid already holds files") and "--force" in lines[0]
    assert picture.read_bytes() == before

    result = liveengine("render-grid", "small.toml", "--out", "grid", "--force", "--png", "sheet.png", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert imread(tmp_path / "grid" / "sheet.png").shape == image.shape


@pytest.mark.parametrize("name", ["sheet.jpg", "pictures/grid.png", ".png"])
def test_render_grid_png_names_a_file_in_the_out_folder(tmp_path, name):
    result = liveengine("render-grid", "default", "--out", "grid", "--png", name, cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"argument --png: {name!r} is not a picture name; allowed: a file name ending in .png, written inside --out" in result.stderr
    assert not (tmp_path / "grid").exists()


def test_pad_order_puts_row_0_at_the_bottom():
    assert pad_order(2, 3) == [3, 4, 5, 0, 1, 2]
    assert sheet_titles(2, 3) == ["r1 c0", "r1 c1", "r1 c2", "r0 c0", "r0 c1", "r0 c2"]
    assert sheet_titles(2, 2, ["kick", None, "hat", "snare"]) == ["r1 c0 hat", "r1 c1 snare", "r0 c0 kick", "r0 c1"]


def test_the_sheet_titles_each_pad_with_its_rendered_class(tmp_path):
    """A model with a classifier, rendered as render-grid renders it: each subplot, in figure order, is titled with
    its pad's row, column and the class the engine gave that pad."""
    folder = build_audio_decoder(tmp_path / "drums", latent_dim=4, output_length=4410, sample_rate=22050,
                                 metadata=contract_metadata(4, 22050, 4410, classes=CLASSES))
    build_classifier(folder, 4, len(CLASSES))
    (tmp_path / "drums.toml").write_text('[model]\ndecoder = "drums"\n[grid]\nrows = 4\ncols = 5\n[engine]\nmax_seconds = 0.2\n')
    patch = load_patch(tmp_path / "drums.toml")
    decoder = load_decoder(patch.model, patch.path, **patch.model_options)
    rows, cols, points = patch_grid(patch, decoder)
    buffers = render_pads(decoder, points, 48000, 0.2)
    classes = [b.description.drum_class for b in buffers]
    assert (rows, cols) == (4, 5) and set(classes) <= set(CLASSES) and None not in classes
    assert len(set(classes)) > 1  # so a pad put in the wrong place would show the wrong class

    fig = spectrogram_sheet([b.samples for b in buffers], 48000, rows, cols, classes)
    titles = [ax.get_title() for ax in fig.axes[: rows * cols]]
    assert titles == sheet_titles(rows, cols, classes)
    for (row, col), title in zip([(r, c) for r in (3, 2, 1, 0) for c in range(5)], titles):
        assert title == f"r{row} c{col} {classes[row * cols + col]}"
    colour_bar = fig.axes[rows * cols]
    assert colour_bar.get_ylabel() == "dB below the loudest pad"
    assert {"time (s)", "frequency (Hz)"} <= {t.get_text() for t in fig.texts}  # axis labels, one for the sheet
    save_png(fig, tmp_path / "sheet.png")
    assert imread(tmp_path / "sheet.png").shape[:2] == (int(fig.get_figheight() * 100), int(fig.get_figwidth() * 100))


def test_confusion_figure_names_the_classes_and_counts():
    confusion = np.array([[8, 2, 0], [1, 5, 4], [0, 0, 9]])
    fig = confusion_figure(confusion, CLASSES, title="3 classes")
    ax, bar = fig.axes
    assert [t.get_text() for t in ax.get_xticklabels()] == CLASSES
    assert [t.get_text() for t in ax.get_yticklabels()] == CLASSES
    assert (ax.get_xlabel(), ax.get_ylabel(), ax.get_title()) == ("predicted class", "true class", "3 classes")
    assert bar.get_ylabel() == "share of the true class"
    cells = {(t.get_position(), t.get_text()) for t in ax.texts}
    assert ((2, 1), "4") in cells and ((2, 2), "9") in cells and len(cells) == 9  # at (predicted, true): 4 snares called hat
    shown = ax.images[0].get_array()
    np.testing.assert_allclose(shown[1], [0.1, 0.5, 0.4])  # each true class's row sums to 1


def test_the_bench_draws_its_confusion_matrix_and_pad_walk(tmp_path, monkeypatch):
    """bench/model_quality.py's pictures from the shipped drum model: its 8x8 pad plane decoded and classified,
    and a small confusion matrix, both written as PNGs that decode."""
    monkeypatch.syspath_prepend(REPO / "bench")
    import model_quality

    decoder = OnnxDecoder(REPO / "models_onnx" / "drums", threads=1, normalize="peak", max_batch=16)
    walk, walk_classes = model_quality.pad_walk(decoder)
    assert walk.shape == (64, model_quality.N) and np.all(np.max(np.abs(walk), axis=1) > 0.1)
    assert len(walk_classes) == 64 and set(walk_classes) <= set(decoder.classes) and len(set(walk_classes)) > 1
    classes = list(decoder.classes)
    confusion = np.diag(np.arange(1, len(classes) + 1))
    confusion[0, 1] = 3
    matrix, sheet = model_quality.draw_pictures(tmp_path, confusion, classes, walk, walk_classes, decoder.name)
    assert [t.get_text() for t in matrix.axes[0].get_yticklabels()] == classes
    assert [ax.get_title() for ax in sheet.axes[:64]] == sheet_titles(8, 8, walk_classes)
    assert sheet.axes[0].get_title() == f"r7 c0 {walk_classes[56]}"  # the top-left pad is row 7's first
    for name in ("model_confusion.png", "model_walk.png"):
        assert (tmp_path / name).read_bytes().startswith(PNG_SIGNATURE)
        assert min(imread(tmp_path / name).shape[:2]) > 200
