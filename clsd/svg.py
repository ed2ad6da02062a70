"""Line charts and heat maps written by hand as SVG, with no plotting dependency.

Each function returns the SVG document as a string: a standalone XML file
that a browser renders, and that Jupyter shows inline through
``History._repr_svg_``. ``write_svg`` saves one to a file.

>>> svg = line_chart({"task": [1.0, 0.5, 0.25]}, title="Loss")
>>> svg.startswith("<svg") and "task" in svg
True
>>> import xml.etree.ElementTree as ET
>>> ET.fromstring(heatmap([[1.0, 0.2], [0.2, 1.0]])).tag
'{http://www.w3.org/2000/svg}svg'

Line charts pick a log-scale y axis on their own when every value is
positive and the largest is more than 50 times the smallest, because hint
terms and the task loss often differ by orders of magnitude. Heat maps use
the viridis colour scale (dark purple for low, yellow for high), sampled at
five points and interpolated linearly in RGB.
"""

import math
from xml.sax.saxutils import escape

from .atomic import atomic_write

SVG_NAMESPACE = "http://www.w3.org/2000/svg"

# Okabe and Ito's colour-blind-safe palette, without its yellow, which is
# too pale on white.
PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"]

# Viridis (matplotlib's default colour map) at 0, 0.25, 0.5, 0.75 and 1.
VIRIDIS = [(68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37)]

FONT = "font-family=\"Helvetica, Arial, sans-serif\""
CHAR_WIDTH = 7.0  # rough width in pixels of one character at font-size 12


def _text(value):
    return escape(str(value), {'"': "&quot;"})


def _number(value):
    return f"{value:.2f}".rstrip("0").rstrip(".")


# ---- axes and ticks -----------------------------------------------------------


def nice_ticks(low, high, count=5):
    """Return about ``count`` round tick values covering [low, high].

    Steps are 1, 2 or 5 times a power of ten.

    >>> nice_ticks(0.0, 1.0)
    [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    >>> nice_ticks(3.0, 3.0)
    [2.6, 2.8, 3.0, 3.2, 3.4]
    """
    if high < low:
        low, high = high, low
    if high == low:
        spread = abs(low) * 0.1 or 1.0
        low, high = low - spread, high + spread
    raw_step = (high - low) / max(count, 1)
    power = 10.0 ** math.floor(math.log10(raw_step))
    for multiple in (1.0, 2.0, 5.0, 10.0):
        step = multiple * power
        if step >= raw_step:
            break
    first = math.floor(low / step + 1e-9)
    last = math.ceil(high / step - 1e-9)
    # Round away the float noise of i * step, such as 0.30000000000000004.
    digits = max(0, -math.floor(math.log10(step)) + 1)
    return [round(i * step, digits) for i in range(first, last + 1)]


def log_ticks(low, high):
    """Return tick values for a log axis covering [low, high], both positive.

    >>> log_ticks(0.003, 0.5)
    [0.001, 0.01, 0.1, 1.0]
    >>> log_ticks(0.2, 0.6)
    [0.1, 0.2, 0.5, 1.0]
    """
    first = math.floor(math.log10(low) + 1e-9)
    last = math.ceil(math.log10(high) - 1e-9)
    if last == first:
        last += 1
    if last - first >= 2:
        return [10.0 ** k for k in range(first, last + 1)]
    ticks = []
    for k in range(first, last + 1):
        for multiple in (1.0, 2.0, 5.0):
            value = multiple * 10.0 ** k
            if value <= 10.0 ** last:
                ticks.append(float(f"{value:.12g}"))
    return ticks


def _tick_label(value):
    if value != 0 and (abs(value) >= 1e5 or abs(value) < 1e-3):
        return f"{value:.0e}"
    return f"{value:.6g}"


# ---- line charts ---------------------------------------------------------------


def _check_series(series):
    if not isinstance(series, dict) or not series:
        raise ValueError(f"line_chart: series must be a non-empty dict of name -> values, got {series!r}")
    points = 0
    for name, values in series.items():
        if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
            raise TypeError(f"line_chart: series {name!r} must be a list of numbers, got {values!r}")
        for index, value in enumerate(values):
            if value is None:
                continue
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise TypeError(f"line_chart: series {name!r}[{index}] is {value!r}; expected a number or None")
            if not math.isfinite(value):
                raise ValueError(f"line_chart: series {name!r}[{index}] is {value!r}; expected a finite number")
            points += 1
    if not points:
        raise ValueError("line_chart: every series is empty; nothing to plot")


def _choose_log(values, log_y):
    positive = all(v > 0 for v in values)
    if log_y is None:
        return positive and max(values) > 50 * min(values)
    if log_y and not positive:
        raise ValueError(f"line_chart: log_y=True needs positive values, got a minimum of {min(values)!r}")
    return bool(log_y)


def _panel(box, series, x_values, x_label, y_label, log_y, colors, dashed, marks=()):
    """Return the SVG elements of one chart drawn inside ``box`` = (left, top, width, height).

    ``marks`` lists (x, text) pairs drawn as dotted vertical lines, such as
    the start of a training stage.
    """
    left, top, width, height = box
    finite = [v for values in series.values() for v in values if v is not None]
    log_y = _choose_log(finite, log_y)

    # Axis ranges: x covers x_values, y covers the data padded to round ticks.
    x_low, x_high = min(x_values), max(x_values)
    x_ticks = nice_ticks(x_low, x_high, count=min(8, max(len(x_values) - 1, 1)))
    x_ticks = [t for t in x_ticks if x_low <= t <= x_high and (t == int(t) or x_high - x_low < 5)]
    if x_high == x_low:
        x_low, x_high = x_low - 1, x_high + 1
    if log_y:
        y_ticks = log_ticks(min(finite), max(finite))
        scale = math.log10
    else:
        y_ticks = nice_ticks(min(finite), max(finite))
        scale = float
    y_low, y_high = scale(y_ticks[0]), scale(y_ticks[-1])

    def to_x(value):
        return left + (value - x_low) / (x_high - x_low) * width

    def to_y(value):
        return top + height - (scale(value) - y_low) / (y_high - y_low) * height

    elements = []

    # Grid lines and tick labels.
    for tick in y_ticks:
        y = _number(to_y(tick))
        elements.append(f'<line x1="{_number(left)}" y1="{y}" x2="{_number(left + width)}" y2="{y}" stroke="#e0e0e0"/>')
        elements.append(
            f'<text x="{_number(left - 6)}" y="{y}" text-anchor="end" dominant-baseline="middle" '
            f'font-size="11">{_text(_tick_label(tick))}</text>'
        )
    for tick in x_ticks:
        x = _number(to_x(tick))
        elements.append(f'<line x1="{x}" y1="{_number(top + height)}" x2="{x}" y2="{_number(top + height + 4)}" stroke="#333"/>')
        elements.append(
            f'<text x="{x}" y="{_number(top + height + 17)}" text-anchor="middle" font-size="11">'
            f"{_text(_tick_label(tick))}</text>"
        )

    # Axes and their labels.
    elements.append(
        f'<path d="M{_number(left)},{_number(top)} V{_number(top + height)} H{_number(left + width)}" '
        'fill="none" stroke="#333"/>'
    )
    elements.append(
        f'<text class="x-label" x="{_number(left + width / 2)}" y="{_number(top + height + 36)}" '
        f'text-anchor="middle" font-size="12">{_text(x_label)}</text>'
    )
    y_label_text = y_label + (" (log scale)" if log_y else "")
    elements.append(
        f'<text class="y-label" transform="translate({_number(left - 52)},{_number(top + height / 2)}) rotate(-90)" '
        f'text-anchor="middle" font-size="12">{_text(y_label_text)}</text>'
    )

    # Dotted lines where a new stage starts, with its name at the top.
    for x, text in marks:
        position = _number(to_x(x))
        elements.append(
            f'<line class="mark" x1="{position}" y1="{_number(top)}" x2="{position}" y2="{_number(top + height)}" '
            'stroke="#777" stroke-dasharray="2,3"/>'
        )
        elements.append(
            f'<text x="{_number(to_x(x) + 4)}" y="{_number(top + 12)}" font-size="11" fill="#555">{_text(text)}</text>'
        )

    # One polyline per run of consecutive values; a None breaks the line.
    for name, values in series.items():
        color = colors[name]
        dash = ' stroke-dasharray="6,4"' if name in dashed else ""
        elements.append(f'<g class="series" data-name="{_text(name)}">')
        run = []
        points = [(x, v) for x, v in zip(x_values, values)]
        for x, value in points + [(None, None)]:
            if value is not None:
                run.append(f"{_number(to_x(x))},{_number(to_y(value))}")
                continue
            if len(run) > 1:
                elements.append(
                    f'<polyline points="{" ".join(run)}" fill="none" stroke="{color}" stroke-width="2"{dash}/>'
                )
            if len(run) == 1 or (run and len(x_values) <= 30):
                for point in run:
                    cx, cy = point.split(",")
                    elements.append(f'<circle cx="{cx}" cy="{cy}" r="2.5" fill="{color}"/>')
            run = []
        elements.append("</g>")
    return elements


def _legend(x, y, names, colors, dashed):
    elements = [f'<g class="legend" transform="translate({_number(x)},{_number(y)})">']
    for index, name in enumerate(names):
        row_y = index * 20
        dash = ' stroke-dasharray="6,4"' if name in dashed else ""
        elements.append(
            f'<line x1="0" y1="{row_y}" x2="24" y2="{row_y}" stroke="{colors[name]}" stroke-width="2"{dash}/>'
        )
        elements.append(
            f'<text x="30" y="{row_y}" dominant-baseline="middle" font-size="12">{_text(name)}</text>'
        )
    elements.append("</g>")
    return elements


def _document(width, height, title, elements):
    head = (
        f'<svg xmlns="{SVG_NAMESPACE}" width="{_number(width)}" height="{_number(height)}" '
        f'viewBox="0 0 {_number(width)} {_number(height)}" role="img" {FONT}>'
    )
    return "\n".join(
        [
            head,
            f"<title>{_text(title)}</title>",
            f'<rect width="{_number(width)}" height="{_number(height)}" fill="white"/>',
            f'<text class="title" x="{_number(width / 2)}" y="24" text-anchor="middle" font-size="15" '
            f'font-weight="bold">{_text(title)}</text>',
        ]
        + elements
        + ["</svg>", ""]
    )


def _assign_colors(names, colors):
    assigned = {}
    colors = dict(colors or {})
    for index, name in enumerate(names):
        assigned[name] = colors.get(name, PALETTE[index % len(PALETTE)])
    return assigned


def line_chart(series, title="Loss", x_label="epoch", y_label="loss", x_values=None,
               log_y=None, colors=None, dashed=(), width=640, height=380):
    """Return an SVG line chart of one or more series.

    Args:
        series: dict name -> list of numbers; None marks a missing point.
        title, x_label, y_label: text of the title and axis labels.
        x_values: the x of each point; 1, 2, 3, ... (epochs) when None.
        log_y: True, False, or None to choose a log scale from the data.
        colors: dict name -> CSS colour, overriding the default palette.
        dashed: names of the series drawn with dashes.
        width, height: size of the picture in pixels.

    Raises ``ValueError`` for an empty chart, NaN or infinite values, or a
    log scale with a value at or below zero; ``TypeError`` for values that
    are not numbers.
    """
    _check_series(series)
    series = {str(name): list(values) for name, values in series.items()}
    length = max(len(values) for values in series.values())
    if x_values is None:
        x_values = list(range(1, length + 1))
    x_values = list(x_values)
    if len(x_values) < length:
        raise ValueError(f"line_chart: {len(x_values)} x_values for series of up to {length} points")
    colors = _assign_colors(list(series), colors)
    dashed = {str(name) for name in dashed}

    legend_width = 40 + CHAR_WIDTH * max(len(name) for name in series)
    left, top, right, bottom = 72, 44, 24 + legend_width, 50
    box = (left, top, width - left - right, height - top - bottom)
    elements = _panel(box, series, x_values, x_label, y_label, log_y, colors, dashed)
    elements += _legend(width - right + 16, top + 8, list(series), colors, dashed)
    return _document(width, height, title, elements)


def history_chart(history, title="Training history", width=640):
    """Return an SVG picture of a ``History``: every loss term over the epochs.

    The top panel shows each training loss term (solid), the weighted
    total when an epoch has several terms, and the validation cross-entropy
    (dashed, in the task term's colour). When the history has validation
    results, a bottom panel shows the validation accuracy. A dotted line
    marks each epoch where the records' ``stage`` changes.
    """
    if not history:
        raise ValueError("history_chart: the history is empty; train for at least one epoch")
    epochs = [record["epoch"] for record in history]
    names = list(history[0]["terms"])
    for record in history[1:]:
        names += [name for name in record["terms"] if name not in names]

    losses = {}
    for name in names:
        losses[f"train {name}"] = [record["terms"].get(name) for record in history]
    if any(len(record["terms"]) > 1 for record in history):
        losses["train total"] = [record["total"] for record in history]
    validation = [record.get("validation") for record in history]
    has_validation = any(validation)
    if has_validation:
        losses["validation loss"] = [v["loss"] if v else None for v in validation]

    colors = _assign_colors(list(losses), {})
    if "validation loss" in colors and "train task" in colors:
        colors["validation loss"] = colors["train task"]
    dashed = {"validation loss"}

    legend_width = 40 + CHAR_WIDTH * max(len(name) for name in losses)
    left, right = 72, 24 + legend_width
    plot_width = width - left - right
    marks = _stage_marks(history)
    elements = _panel((left, 44, plot_width, 250), losses, epochs, "epoch", "loss", None, colors, dashed, marks)
    elements += _legend(width - right + 16, 52, list(losses), colors, dashed)
    height = 44 + 250 + 50
    if has_validation:
        accuracy = {"validation accuracy": [v["accuracy"] if v else None for v in validation]}
        accuracy_colors = {"validation accuracy": PALETTE[3]}
        top = height + 10
        elements += _panel((left, top, plot_width, 130), accuracy, epochs, "epoch", "accuracy",
                           False, accuracy_colors, set(), marks)
        elements += _legend(width - right + 16, top + 8, list(accuracy), accuracy_colors, set())
        height = top + 130 + 50
    return _document(width, height, title, elements)


def _stage_marks(history):
    """Return (x, stage name) for each epoch where the record's "stage" changes, after the first."""
    marks = []
    for before, record in zip(history, history[1:]):
        stage = record.get("stage")
        if stage is not None and stage != before.get("stage"):
            marks.append(((before["epoch"] + record["epoch"]) / 2, stage))
    return marks


# ---- heat maps ---------------------------------------------------------------


def viridis(fraction):
    """Return the viridis colour at ``fraction`` in [0, 1] as ``#rrggbb``.

    >>> viridis(0.0), viridis(1.0)
    ('#440154', '#fde725')
    """
    fraction = min(max(fraction, 0.0), 1.0)
    position = fraction * (len(VIRIDIS) - 1)
    index = min(int(position), len(VIRIDIS) - 2)
    mix = position - index
    low, high = VIRIDIS[index], VIRIDIS[index + 1]
    red, green, blue = (round(a + (b - a) * mix) for a, b in zip(low, high))
    return f"#{red:02x}{green:02x}{blue:02x}"


def _matrix_rows(matrix):
    rows = matrix.tolist() if hasattr(matrix, "tolist") else matrix
    if isinstance(rows, (str, bytes)) or not hasattr(rows, "__len__") or not len(rows):
        raise ValueError(f"heatmap: matrix must be a non-empty list of rows, got {matrix!r}")
    rows = [list(row) for row in rows]
    width = len(rows[0])
    if width == 0 or any(len(row) != width for row in rows):
        raise ValueError(f"heatmap: rows must be non-empty and of equal length, got lengths {[len(r) for r in rows]}")
    for i, row in enumerate(rows):
        for j, value in enumerate(row):
            if value is not None and (not isinstance(value, (int, float)) or isinstance(value, bool)):
                raise TypeError(f"heatmap: element [{i}][{j}] is {value!r}; expected a number or None")
    return rows


def heatmap(matrix, row_labels=None, column_labels=None, title="CKA similarity",
            x_label="column", y_label="row", value_range=None, annotate=None, cell=None):
    """Return an SVG heat map of a matrix, such as a CKA matrix between two networks' states.

    Args:
        matrix: a list of equal-length rows of numbers, or a ``Tensor``; a
            None or NaN element is drawn grey.
        row_labels, column_labels: text per row and per column; the indices
            when None.
        title, x_label, y_label: text of the title and axis labels; the
            x axis runs along the columns.
        value_range: (low, high) mapped to the ends of the colour scale;
            the matrix's minimum and maximum when None. Pass (0, 1) for CKA.
        annotate: write each value in its cell; on when cells are large
            enough to hold the text and None is given.
        cell: side of a cell in pixels; chosen from the matrix size when None.

    Row 0 is drawn at the top. Raises ``ValueError`` for an empty or ragged
    matrix or labels of the wrong length.
    """
    rows = _matrix_rows(matrix)
    n_rows, n_columns = len(rows), len(rows[0])
    row_labels = [str(i) for i in range(n_rows)] if row_labels is None else [str(r) for r in row_labels]
    column_labels = [str(j) for j in range(n_columns)] if column_labels is None else [str(c) for c in column_labels]
    if len(row_labels) != n_rows or len(column_labels) != n_columns:
        raise ValueError(
            f"heatmap: {len(row_labels)} row labels and {len(column_labels)} column labels "
            f"for a {n_rows} x {n_columns} matrix"
        )

    finite = [v for row in rows for v in row if v is not None and math.isfinite(v)]
    if value_range is None:
        low, high = (min(finite), max(finite)) if finite else (0.0, 1.0)
    else:
        low, high = value_range
    if not high > low:
        high = low + 1.0
    # Whole numbers, such as pixel counts, are written without decimals.
    integers = all(float(v).is_integer() for v in finite)
    if cell is None:
        cell = max(14, min(56, 420 // max(n_rows, n_columns)))
    if annotate is None:
        annotate = cell >= 34

    # Layout: row labels on the left, the grid, then the colour bar.
    label_width = 16 + CHAR_WIDTH * max(len(label) for label in row_labels)
    left = 30 + label_width
    top = 48
    grid_width, grid_height = cell * n_columns, cell * n_rows
    bar_left = left + grid_width + 24
    width = bar_left + 70
    height = top + grid_height + 58
    elements = []

    for i, row in enumerate(rows):
        for j, value in enumerate(row):
            x, y = left + j * cell, top + i * cell
            missing = value is None or not math.isfinite(value)
            fraction = 0.0 if missing else (value - low) / (high - low)
            fill = "#bbbbbb" if missing else viridis(fraction)
            if missing:
                shown = "nan"
            elif integers:
                shown = str(int(value))
            else:
                shown = f"{value:.2f}"
            elements.append(
                f'<rect x="{_number(x)}" y="{_number(y)}" width="{cell}" height="{cell}" fill="{fill}">'
                f"<title>{_text(row_labels[i])}, {_text(column_labels[j])}: {_text(shown)}</title></rect>"
            )
            if annotate:
                ink = "black" if missing or fraction > 0.6 else "white"
                elements.append(
                    f'<text x="{_number(x + cell / 2)}" y="{_number(y + cell / 2)}" text-anchor="middle" '
                    f'dominant-baseline="middle" font-size="11" fill="{ink}">{_text(shown)}</text>'
                )

    # Tick labels and axis labels.
    for i, label in enumerate(row_labels):
        elements.append(
            f'<text x="{_number(left - 6)}" y="{_number(top + (i + 0.5) * cell)}" text-anchor="end" '
            f'dominant-baseline="middle" font-size="11">{_text(label)}</text>'
        )
    for j, label in enumerate(column_labels):
        elements.append(
            f'<text x="{_number(left + (j + 0.5) * cell)}" y="{_number(top + grid_height + 15)}" '
            f'text-anchor="middle" font-size="11">{_text(label)}</text>'
        )
    elements.append(
        f'<rect x="{_number(left)}" y="{_number(top)}" width="{grid_width}" height="{grid_height}" '
        'fill="none" stroke="#333"/>'
    )
    elements.append(
        f'<text class="x-label" x="{_number(left + grid_width / 2)}" y="{_number(top + grid_height + 36)}" '
        f'text-anchor="middle" font-size="12">{_text(x_label)}</text>'
    )
    elements.append(
        f'<text class="y-label" transform="translate(16,{_number(top + grid_height / 2)}) rotate(-90)" '
        f'text-anchor="middle" font-size="12">{_text(y_label)}</text>'
    )
    elements += _colour_bar(bar_left, top, max(grid_height, 100), low, high)
    # Wide enough for the title, at about 9 pixels per bold character.
    width = max(width, 260, 40 + 9 * len(title))
    return _document(width, height + max(0, 100 - grid_height), title, elements)


def _colour_bar(x, y, height, low, high):
    """Return the legend of a heat map: a vertical colour scale from ``low`` to ``high``."""
    steps = 32
    elements = ['<g class="legend">']
    for k in range(steps):
        fraction = 1.0 - (k + 0.5) / steps
        elements.append(
            f'<rect x="{_number(x)}" y="{_number(y + k * height / steps)}" width="14" '
            f'height="{_number(height / steps + 0.5)}" fill="{viridis(fraction)}"/>'
        )
    elements.append(f'<rect x="{_number(x)}" y="{_number(y)}" width="14" height="{_number(height)}" fill="none" stroke="#333"/>')
    for tick in nice_ticks(low, high, count=4):
        if not low - 1e-12 <= tick <= high + 1e-12:
            continue
        tick_y = y + height - (tick - low) / (high - low) * height
        elements.append(
            f'<text x="{_number(x + 20)}" y="{_number(tick_y)}" dominant-baseline="middle" '
            f'font-size="11">{_text(_tick_label(tick))}</text>'
        )
    elements.append("</g>")
    return elements


def write_svg(svg, path):
    """Write the SVG text ``svg`` to ``path`` as UTF-8; returns the path."""
    if not isinstance(svg, str) or not svg.lstrip().startswith("<svg"):
        raise ValueError("write_svg: svg must be the text of an SVG document, starting with '<svg'")
    atomic_write(path, svg)
    return path
