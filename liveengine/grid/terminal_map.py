"""The pad grid as a map in the terminal: what each pad plays, row 0 at the bottom as on a controller.

`liveengine check` and `liveengine play` print it once every pad is rendered. Each cell holds
text (a short class name, or a brightness digit when the model has no classifier), so the map
reads the same without colour (a pipe, a log, NO_COLOR); on a colour terminal each cell also
shows the colour its pad has on a controller (render.describe.pad_color): hue from the class,
brightness from the loudness.
"""

from __future__ import annotations

from rich.text import Text

from liveengine.render.describe import PadDescription

CELL = 4  # characters of a cell's text; one space between cells
NOT_RENDERED = "-"


def short_names(classes: tuple[str, ...] | list[str]) -> dict[str, str]:
    """A distinct code of at most CELL letters per class name: kick, snar, clap, hatc, hato, tom, cymb, perc."""
    codes: dict[str, str] = {}
    for name in classes:
        first, *rest = name.split("_")
        base = (first[: CELL - len(rest)] + "".join(part[:1] for part in rest))[:CELL] if rest else first[:CELL]
        code, n = base, 1
        while code in codes.values():  # two names with one abbreviation: number the later ones
            code, n = base[: CELL - len(str(n))] + str(n), n + 1
        codes[name] = code
    return codes


def _cell(description: PadDescription | None, codes: dict[str, str]) -> tuple[str, str]:
    """(text, rich style) of one pad's cell."""
    if description is None:
        return NOT_RENDERED, ""
    if description.drum_class is not None:
        text = codes.get(description.drum_class, description.drum_class[:CELL])
    else:
        text = f"b{min(9, int(description.brightness * 10))}"
    r, g, b = description.color
    ink = "black" if 0.299 * r + 0.587 * g + 0.114 * b > 110 else "white"  # readable on dark and light cells
    return text, f"{ink} on rgb({r},{g},{b})"


def grid_map(descriptions: list[PadDescription | None], rows: int, cols: int, classes: tuple[str, ...], title: str) -> Text:
    """The map: a title line, one line per row from the top row down to row 0, column numbers, a legend.

    `descriptions[row * cols + col]` is a pad's description (None while not rendered); `classes`
    are the model's class names (empty when it has no classifier).
    """
    codes = short_names(classes)
    text = Text(title + "\n")
    label = len(f"row {rows - 1}") + 2
    for row in reversed(range(rows)):
        text.append(f"row {row}".ljust(label))
        for col in range(cols):
            cell, style = _cell(descriptions[row * cols + col] if row * cols + col < len(descriptions) else None, codes)
            text.append(cell.ljust(CELL), style)
            text.append(" " if col < cols - 1 else "\n")
    text.append(" " * label + " ".join(str(col).ljust(CELL) for col in range(cols)).rstrip() + "\n")
    if codes:
        text.append("classes   " + ", ".join(f"{code}={name}" for name, code in codes.items()) + "; brighter cells are louder")
    else:
        text.append("cells     b0 (dark) to b9 (bright) spectral brightness: the model has no classifier; brighter cells are louder")
    return text


def print_grid_map(engine) -> None:
    """Print the grid of a started or rendered Engine, with its model and mapping, to stdout."""
    from rich.console import Console

    decoder, setting = engine.instrument.decoder, engine.instrument.setting
    classes = tuple(decoder.classes) if getattr(decoder, "can_classify", False) else ()
    title = f"grid {setting.rows}x{setting.cols}, mapping {setting.mapping}, model {decoder.name} (hash {decoder.identity}); row 0 at the bottom"
    # soft_wrap: a 16-column grid is wider than a non-terminal's 80 columns, and a wrapped row would not read as one.
    Console(highlight=False, soft_wrap=True).print(grid_map(engine.pad_descriptions(), setting.rows, setting.cols, classes, title))
