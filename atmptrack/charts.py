"""Standalone SVG charts and a self-contained HTML page for reports.

Everything here is text generation with the standard library: no JavaScript, nothing fetched
from the internet, every user string escaped. The layout is computed from the content with an
estimated text width (about 0.6 × font size per character), so that labels are neither clipped
nor overlapping. Elements that carry data have a `class` and `data-label`/`data-value`
attributes, so that tests and scripts can find them.
"""

from __future__ import annotations

import hashlib
import html
import math
import re
import unicodedata
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import MAXYEAR, MINYEAR, date, timedelta
from xml.sax.saxutils import escape

__all__ = [
    "Bar",
    "Marker",
    "Span",
    "bar_chart",
    "gantt",
    "heatmap",
    "html_page",
    "html_table",
    "stacked_bars",
]

FONT_STACK = (
    "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, "
    "'Liberation Sans', 'DejaVu Sans', sans-serif"
)
MIN_WIDTH = 480
MAX_WIDTH = 1100
PAD = 16

INK = "#1a1a1a"
MUTED = "#666666"  # 5.7:1 on white
GRID = "#e2e2e2"
AXIS = "#8c8c8c"
# Okabe–Ito: distinguishable with the common colour-vision deficiencies.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
UNKNOWN_COLOUR = "#BBBBBB"
BAR_COLOUR = "#0072B2"
MARKER_COLOUR = "#D55E00"
HEAT_LOW = (242, 246, 250)
HEAT_HIGH = (8, 48, 107)
HEAT_STEPS_MAX = 10  # up to this count a heatmap's legend shows every value, else a gradient
DIAGONAL_FILL = "#ededed"  # a heatmap's diagonal: neutral, off the colour scale
DIAGONAL_STRIPE = "#d2d2d2"

TITLE_SIZE = 18
SUBTITLE_SIZE = 13
LABEL_SIZE = 12
SMALL_SIZE = 11
MAX_LABEL_PX = 300.0


# --- Data ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Bar:
    """One row of a bar chart; `value` None means unknown (no bar is drawn)."""

    label: str
    value: float | None
    text: str = ""
    style: str = "solid"  # "solid" | "hatched" (approximate or estimated)


@dataclass(frozen=True, slots=True)
class Span:
    """One row of a Gantt chart; None for an unknown start or end.

    An unknown bound is drawn open to the chart's edge, and what is known about it bounds the
    solid part: `started_by` (used only when start is None) is a day by which the row had
    started, e.g. its first dated milestone; `running_on` (used only when end is None) is a day
    on which it was still running, e.g. its last dated milestone.
    """

    label: str
    start: date | None
    end: date | None
    started_by: date | None = None
    running_on: date | None = None


@dataclass(frozen=True, slots=True)
class Marker:
    """A milestone on the row of the span whose label is `row`."""

    row: str
    when: date
    label: str
    approximate: bool = False


# --- Text, escaping and elements ---------------------------------------------------------------

# Characters that XML 1.0 does not allow at all: dropped rather than producing an invalid document.
_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
_NARROW = frozenset("ijlI.,:;'!|()[]{}ft r\"`")
_WIDE = frozenset("mwMW@%&—")


def _clean(text: str) -> str:
    return _INVALID_XML.sub("", text)


def _esc(text: str) -> str:
    return escape(_clean(text))


def _attr_text(value: str) -> str:
    return escape(_clean(value), {'"': "&quot;", "\n": "&#10;", "\r": "&#13;", "\t": "&#9;"})


def _num(x: float) -> str:
    """A coordinate: at most two decimals, no trailing zeros."""
    text = f"{x:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def _data_num(x: float) -> str:
    """A data value as written in `data-value`: exact, integers without a decimal point."""
    if float(x).is_integer() and abs(x) < 1e15:
        return str(int(x))
    return repr(float(x))


AttrValue = str | float | None


def _tag(
    name: str, attrs: Mapping[str, AttrValue], text: str | None = None, inner: str = ""
) -> str:
    """An element; `text` is escaped, `inner` is markup already built here."""
    head = [name]
    for key, value in attrs.items():
        if value is None:
            continue
        shown = _attr_text(value) if isinstance(value, str) else _num(value)
        head.append(f'{key}="{shown}"')
    opening = " ".join(head)
    if text is None and not inner:
        return f"<{opening}/>"
    return f"<{opening}>{_esc(text or '')}{inner}</{name}>"


def _tooltip(text: str) -> str:
    return _tag("title", {}, text)


def _text_width(text: str, size: float, *, bold: bool = False) -> float:
    """Estimated width in px: about 0.6 × size per character, narrower for i/l/., wider for M/W."""
    units = 0.0
    for ch in text:
        if unicodedata.combining(ch):
            continue
        if ch in _NARROW:
            units += 0.34
        elif ch in _WIDE:
            units += 0.88
        elif unicodedata.east_asian_width(ch) in ("W", "F"):
            units += 1.0
        elif ch.isupper():
            units += 0.7
        elif ch.isdigit():
            units += 0.6
        else:
            units += 0.58
    return units * size * (1.08 if bold else 1.0)


def _fit(text: str, max_px: float, size: float, *, bold: bool = False) -> str:
    """The text, cut with an ellipsis when it is wider than max_px."""
    if _text_width(text, size, bold=bold) <= max_px:
        return text
    cut = text
    while cut and _text_width(cut + "…", size, bold=bold) > max_px:
        cut = cut[:-1]
    return cut.rstrip() + "…"


def _wrap(text: str, max_px: float, size: float, *, bold: bool = False) -> list[str]:
    """Greedy word wrap; a single word wider than a line is split."""
    lines: list[str] = []
    line = ""
    for word in text.split():
        candidate = f"{line} {word}" if line else word
        if _text_width(candidate, size, bold=bold) <= max_px:
            line = candidate
            continue
        if line:
            lines.append(line)
        line = word
        while _text_width(line, size, bold=bold) > max_px and len(line) > 1:
            cut = len(line) - 1
            while cut > 1 and _text_width(line[:cut], size, bold=bold) > max_px:
                cut -= 1
            lines.append(line[:cut])
            line = line[cut:]
    if line:
        lines.append(line)
    return lines


def _format_value(value: float) -> str:
    """A value for people: thousands separators, at most two decimals."""
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.2f}".rstrip("0").rstrip(".")


def _uid(*parts: object) -> str:
    """A prefix for ids, stable for the same chart, so that charts inlined in one page differ."""
    return "c" + hashlib.sha1(repr(parts).encode("utf-8", "replace")).hexdigest()[:8]


def _check_number(value: float, what: str) -> None:
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{what} must be a finite number >= 0, not {value!r}")


def _luminance(rgb: tuple[int, int, int]) -> float:
    def channel(c: int) -> float:
        s = c / 255
        return s / 12.92 if s <= 0.04045 else ((s + 0.055) / 1.055) ** 2.4

    r, g, b = rgb
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def _rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def _text_on(rgb: tuple[int, int, int]) -> str:
    """White or near-black, whichever contrasts more with the background."""
    lum = _luminance(rgb)
    return "#ffffff" if (1.05 / (lum + 0.05)) > ((lum + 0.05) / 0.0625) else INK


def _series_colours(series: Sequence[str]) -> list[str]:
    colours: list[str] = []
    index = 0
    for name in series:
        if name.strip().lower() == "unknown":
            colours.append(UNKNOWN_COLOUR)
        else:
            colours.append(PALETTE[index % len(PALETTE)])
            index += 1
    return colours


# --- Common parts: document, header, legend, value axis ----------------------------------------


def _document(
    title: str, width: float, height: float, defs: Sequence[str], body: Sequence[str]
) -> str:
    w, h = math.ceil(width), math.ceil(height)
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" '
        f'viewBox="0 0 {w} {h}" role="img" font-family="{_attr_text(FONT_STACK)}" '
        f'font-size="{LABEL_SIZE}" fill="{INK}">'
    )
    parts = [head, _tag("title", {}, title)]
    if defs:
        parts.append("<defs>" + "".join(defs) + "</defs>")
    parts.append(_tag("rect", {"class": "background", "width": w, "height": h, "fill": "#ffffff"}))
    parts.extend(body)
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _canvas_width(content: float, title: str) -> float:
    """Content width, widened a little for a long title (which wraps beyond that)."""
    wanted = max(content, min(_text_width(title, TITLE_SIZE, bold=True) + 2 * PAD, 760.0))
    return min(max(wanted, MIN_WIDTH), MAX_WIDTH)


def _header(title: str, subtitle: str, width: float) -> tuple[list[str], float]:
    """Title (bold) and subtitle lines; returns the parts and the y below them."""
    parts: list[str] = []
    y = 8.0
    for line in _wrap(title, width - 2 * PAD, TITLE_SIZE, bold=True) or [""]:
        y += 22
        parts.append(
            _tag(
                "text",
                {
                    "class": "title",
                    "x": PAD,
                    "y": y,
                    "font-size": TITLE_SIZE,
                    "font-weight": "bold",
                },
                line,
            )
        )
    for line in _wrap(subtitle, width - 2 * PAD, SUBTITLE_SIZE):
        y += 18
        parts.append(
            _tag(
                "text",
                {"class": "subtitle", "x": PAD, "y": y, "font-size": SUBTITLE_SIZE, "fill": MUTED},
                line,
            )
        )
    return parts, y + 14


Swatch = Callable[[float, float], str]  # draws a 14 × 14 (or wider) symbol at x, y (top left)


def _legend(
    items: Sequence[tuple[float, Swatch, str]], y0: float, width: float
) -> tuple[list[str], float]:
    """Legend entries flowing left to right, wrapping at the canvas width; returns parts and height."""
    if not items:
        return [], 0.0
    parts: list[str] = []
    x, y = float(PAD), y0
    line_height = 20.0
    right = width - PAD
    for swatch_width, draw, label in items:
        shown = _fit(label, right - PAD - swatch_width - 6, LABEL_SIZE)
        item_width = swatch_width + 6 + _text_width(shown, LABEL_SIZE)
        if x > PAD and x + item_width > right:
            x = PAD
            y += line_height
        text = _tag("text", {"x": x + swatch_width + 6, "y": y + 11.5}, shown)
        parts.append(_tag("g", {"class": "legend", "data-label": label}, inner=draw(x, y) + text))
        x += item_width + 18
    return parts, y - y0 + line_height + 6


def _header_and_legend(
    title: str, subtitle: str, width: float, items: Sequence[tuple[float, Swatch, str]]
) -> tuple[list[str], float]:
    """The header, then the legend (nothing when `items` is empty); returns the parts and the y
    below them."""
    body, y = _header(title, subtitle, width)
    legend, legend_height = _legend(items, y, width)
    return body + legend, y + legend_height


def _rect_swatch(fill: str, stroke: str | None = None) -> Swatch:
    def draw(x: float, y: float) -> str:
        return _tag(
            "rect",
            {"x": x, "y": y, "width": 14, "height": 14, "fill": fill, "stroke": stroke},
        )

    return draw


def _nice_ticks(top: float, *, integer: bool = False) -> list[float]:
    """4–6 ticks from 0 with a 1-2-5 step, the last one at or above `top`."""
    if not top > 0:
        top = 1.0
    exponent = math.floor(math.log10(top)) - 1
    while True:
        for mantissa in (1, 2, 5):
            step = mantissa * 10.0**exponent
            if integer and step < 1:
                continue
            intervals = math.ceil(top / step - 1e-9)
            if intervals <= 5:
                intervals = max(intervals, 3)
                return [round(i * step, 10) for i in range(intervals + 1)]
        exponent += 1


def _tick_labels(ticks: Sequence[float]) -> list[str]:
    """Thousands separators, or k/M suffixes when the numbers are large."""
    top = ticks[-1]
    step = ticks[1] - ticks[0] if len(ticks) > 1 else 1.0
    if top >= 1e6:
        divisor, suffix = 1e6, "M"
    elif top >= 1e4:
        divisor, suffix = 1e3, "k"
    else:
        divisor, suffix = 1.0, ""
    decimals = max(0, -math.floor(math.log10(step / divisor) + 1e-9))
    labels = []
    for tick in ticks:
        text = f"{tick / divisor:,.{decimals}f}"
        if "." in text:
            text = text.rstrip("0").rstrip(".")
        labels.append("0" if tick == 0 else text + suffix)
    return labels


def _tick(x: float, axis_y: float, label: str) -> list[str]:
    """A tick mark below the axis at x and its label."""
    return [
        _tag("line", {"x1": x, "y1": axis_y, "x2": x, "y2": axis_y + 4, "stroke": AXIS}),
        _tag(
            "text",
            {
                "class": "tick",
                "x": x,
                "y": axis_y + 17,
                "text-anchor": "middle",
                "font-size": SMALL_SIZE,
                "fill": MUTED,
            },
            label,
        ),
    ]


def _axis_line(left: float, right: float, y: float) -> str:
    return _tag("line", {"x1": left, "y1": y, "x2": right, "y2": y, "stroke": AXIS})


def _value_axis(
    ticks: Sequence[float],
    labels: Sequence[str],
    left: float,
    plot_width: float,
    top: float,
    bottom: float,
    title: str,
) -> tuple[list[str], list[str], float]:
    """Grid lines (drawn behind) and the axis with tick labels (drawn after); returns both and the
    height the axis takes below `bottom`."""
    grid: list[str] = []
    axis: list[str] = []
    span = ticks[-1] or 1.0
    for tick, label in zip(ticks, labels, strict=True):
        x = left + plot_width * tick / span
        grid.append(
            _tag(
                "line",
                {"x1": x, "y1": top, "x2": x, "y2": bottom, "stroke": GRID, "stroke-width": 1},
            )
        )
        axis += _tick(x, bottom, label)
    axis.append(_axis_line(left, left + plot_width, bottom))
    height = 24.0
    if title:
        shown = _fit(title, plot_width, LABEL_SIZE)
        axis.append(
            _tag(
                "text",
                {
                    "class": "axis-title",
                    "x": left + plot_width / 2,
                    "y": bottom + 36,
                    "text-anchor": "middle",
                },
                shown,
            )
        )
        height = 44.0
    return grid, axis, height


def _label_width(labels: Iterable[str], max_px: float) -> float:
    """The width of the widest row label once cut to max_px."""
    return max((_text_width(_fit(t, max_px, LABEL_SIZE), LABEL_SIZE) for t in labels), default=0.0)


def _row_label(text: str, x: float, y: float, max_px: float) -> str:
    shown = _fit(text, max_px, LABEL_SIZE)
    return _tag(
        "text",
        {"class": "label", "x": x, "y": y, "text-anchor": "end"},
        shown,
        inner=_tooltip(text) if shown != text else "",
    )


def _no_data(x: float, y: float, text: str = "no data", *, label: str | None = None) -> str:
    """Muted italic text where data is missing; `label` names the row it stands for."""
    return _tag(
        "text",
        {
            "class": "unknown",
            "data-label": label,
            "x": x,
            "y": y,
            "fill": MUTED,
            "font-style": "italic",
        },
        text,
    )


# --- Horizontal bars: the frame shared by bar charts and stacked bars --------------------------


@dataclass(frozen=True, slots=True)
class _BarLayout:
    """Row labels at the left, then the plot, then room for the widest value text."""

    width: float
    plot_left: float
    plot_width: float


def _bar_layout(
    title: str, labels: Sequence[str], value_texts: Sequence[str], last_tick: str
) -> _BarLayout:
    label_width = _label_width(labels, MAX_LABEL_PX)
    # The last tick label is centred on the plot's right end: half of it sticks out.
    value_width = max(
        [_text_width(t, LABEL_SIZE) for t in value_texts] + [_text_width(last_tick, SMALL_SIZE) / 2]
    )
    fixed = PAD + label_width + 10 + 6 + value_width + PAD
    width = _canvas_width(fixed + 460, title)
    return _BarLayout(width, PAD + label_width + 10, width - fixed)


RowDrawer = Callable[[int, float], list[str]]  # the parts of row `index` centred on y


def _bar_rows_document(
    title: str,
    subtitle: str,
    layout: _BarLayout,
    labels: Sequence[str],
    draw_row: RowDrawer,
    *,
    row_height: float,
    ticks: Sequence[float],
    tick_labels: Sequence[str],
    axis_title: str,
    legend: Sequence[tuple[float, Swatch, str]] = (),
    defs: Sequence[str] = (),
) -> str:
    """Header, legend, value grid, one labelled row per label with its content from `draw_row`,
    and the value axis below the rows."""
    body, top = _header_and_legend(title, subtitle, layout.width, legend)
    bottom = top + row_height * max(len(labels), 1)
    grid, axis, axis_height = _value_axis(
        ticks, tick_labels, layout.plot_left, layout.plot_width, top, bottom, axis_title
    )
    body += grid
    if not labels:
        body.append(_no_data(layout.plot_left + 4, top + row_height / 2 + 4))
    for index, label in enumerate(labels):
        centre = top + index * row_height + row_height / 2
        body.append(_row_label(label, layout.plot_left - 10, centre + 4, MAX_LABEL_PX))
        body += draw_row(index, centre)
    body += axis
    return _document(title, layout.width, bottom + axis_height + 10, defs, body)


# --- Bar chart ---------------------------------------------------------------------------------


def bar_chart(title: str, bars: Sequence[Bar], *, unit: str = "", subtitle: str = "") -> str:
    """Horizontal bars, one row per Bar, labels left, value text right of each bar, a value axis
    with 4-6 round ticks (1-2-5 steps) and the unit as axis title. Unknown values get no bar but
    the word "unknown"; hatched bars (approximate or estimated) are explained in a legend."""
    for bar in bars:
        if bar.style not in ("solid", "hatched"):
            raise ValueError(f"bar style must be 'solid' or 'hatched', not {bar.style!r}")
        if bar.value is not None:
            _check_number(bar.value, f"value of {bar.label!r}")
    uid = _uid("bars", title, tuple(bars), unit, subtitle)
    known = [b.value for b in bars if b.value is not None]
    ticks = _nice_ticks(max(known, default=0.0))
    tick_labels = _tick_labels(ticks)

    def shown_text(bar: Bar) -> str:
        if bar.value is None:
            return bar.text or "unknown"
        if bar.text:
            return bar.text
        return _format_value(bar.value) + (f" {unit}" if unit else "")

    texts = [_fit(shown_text(b), 280, LABEL_SIZE) for b in bars]
    layout = _bar_layout(
        title,
        [b.label for b in bars],
        [t for t, b in zip(texts, bars, strict=True) if b.value is not None],
        tick_labels[-1],
    )
    hatch = f"{uid}-hatch"
    defs: list[str] = []
    legend: list[tuple[float, Swatch, str]] = []
    if any(b.style == "hatched" for b in bars):
        defs.append(
            f'<pattern id="{hatch}" patternUnits="userSpaceOnUse" width="6" height="6" '
            f'patternTransform="rotate(45)"><rect width="6" height="6" fill="#cfe3f1"/>'
            f'<rect width="3" height="6" fill="{BAR_COLOUR}"/></pattern>'
        )
        legend = [
            (14, _rect_swatch(BAR_COLOUR), "exact"),
            (14, _rect_swatch(f"url(#{hatch})", BAR_COLOUR), "approximate or estimated"),
        ]
    scale = layout.plot_width / (ticks[-1] or 1.0)
    plot_left, bar_height = layout.plot_left, 18.0

    def draw_row(index: int, centre: float) -> list[str]:
        bar, text = bars[index], texts[index]
        if bar.value is None:
            return [_no_data(plot_left + 6, centre + 4, text, label=bar.label)]
        length = bar.value * scale
        hatched = bar.style == "hatched"
        rect = _tag(
            "rect",
            {
                "class": "bar",
                "data-label": bar.label,
                "data-value": _data_num(bar.value),
                "data-style": bar.style,
                "x": plot_left,
                "y": centre - bar_height / 2,
                "width": length,
                "height": bar_height,
                "fill": f"url(#{hatch})" if hatched else BAR_COLOUR,
                "stroke": BAR_COLOUR if hatched else None,
            },
            inner=_tooltip(f"{bar.label}: {shown_text(bar)}"),
        )
        value = _tag("text", {"class": "value", "x": plot_left + length + 6, "y": centre + 4}, text)
        return [rect, value]

    return _bar_rows_document(
        title,
        subtitle,
        layout,
        [b.label for b in bars],
        draw_row,
        row_height=28.0,
        ticks=ticks,
        tick_labels=tick_labels,
        axis_title=unit,
        legend=legend,
        defs=defs,
    )


# --- Stacked bars ------------------------------------------------------------------------------


def stacked_bars(
    title: str,
    rows: Sequence[tuple[str, Sequence[float]]],
    series: Sequence[str],
    *,
    percent: bool = False,
    subtitle: str = "",
) -> str:
    """Horizontal stacked bars: one row per label, one segment per series (zero segments are not
    drawn). With percent=True each row is scaled to 100% and the axis shows 0-100%. A legend has
    one swatch per series; segments wide enough show their count inside; the row total is written
    right of each bar."""
    for label, values in rows:
        if len(values) != len(series):
            raise ValueError(f"row {label!r} has {len(values)} values for {len(series)} series")
        for value in values:
            _check_number(value, f"a value of {label!r}")
    colours = _series_colours(series)
    totals = [float(sum(values)) for _, values in rows]
    if percent:
        ticks = [0.0, 20.0, 40.0, 60.0, 80.0, 100.0]
        tick_labels = [f"{t:g}%" for t in ticks]
    else:
        integer = all(float(v).is_integer() for _, values in rows for v in values)
        ticks = _nice_ticks(max(totals, default=0.0), integer=integer)
        tick_labels = _tick_labels(ticks)

    def total_text(total: float) -> str:
        return f"n = {_format_value(total)}" if percent else _format_value(total)

    labels = [label for label, _ in rows]
    layout = _bar_layout(title, labels, [total_text(t) for t in totals], tick_labels[-1])
    scale = layout.plot_width / (100.0 if percent else ticks[-1])
    bar_height = 20.0

    def draw_row(index: int, centre: float) -> list[str]:
        (label, values), total = rows[index], totals[index]
        if total <= 0:
            return [_no_data(layout.plot_left + 6, centre + 4)]
        parts: list[str] = []
        x = layout.plot_left
        for name, colour, value in zip(series, colours, values, strict=True):
            if value <= 0:
                continue
            share = value / total * 100
            length = (share if percent else value) * scale
            attrs: dict[str, AttrValue] = {
                "class": "segment",
                "data-label": name,
                "data-row": label,
                "data-value": _data_num(value),
                "data-percent": repr(round(share, 4)) if percent else None,
                "x": x,
                "y": centre - bar_height / 2,
                "width": length,
                "height": bar_height,
                "fill": colour,
                "stroke": "#ffffff",
                "stroke-width": 1,
            }
            tip = f"{label}: {name} {_format_value(value)} ({share:.0f}%)"
            parts.append(_tag("rect", attrs, inner=_tooltip(tip)))
            count = _format_value(value)
            if _text_width(count, LABEL_SIZE) + 8 <= length:
                parts.append(
                    _tag(
                        "text",
                        {
                            "class": "segment-value",
                            "x": x + length / 2,
                            "y": centre + 4,
                            "text-anchor": "middle",
                            "fill": _text_on(_rgb(colour)),
                        },
                        count,
                    )
                )
            x += length
        parts.append(
            _tag(
                "text",
                {"class": "total", "x": x + 6, "y": centre + 4, "fill": MUTED},
                total_text(total),
            )
        )
        return parts

    return _bar_rows_document(
        title,
        subtitle,
        layout,
        labels,
        draw_row,
        row_height=30.0,
        ticks=ticks,
        tick_labels=tick_labels,
        axis_title="share of the row (%)" if percent else "",
        legend=[
            (14, _rect_swatch(colour), name) for name, colour in zip(series, colours, strict=True)
        ],
    )


# --- Heatmap -----------------------------------------------------------------------------------


def _heat_colour(value: int, top: int) -> tuple[int, int, int]:
    if top <= 0 or value <= 0:
        return HEAT_LOW
    # Any non-zero count is visibly darker than zero, the largest is the strongest.
    t = 0.15 + 0.85 * (value / top)
    low, high = HEAT_LOW, HEAT_HIGH
    return (
        round(low[0] + (high[0] - low[0]) * t),
        round(low[1] + (high[1] - low[1]) * t),
        round(low[2] + (high[2] - low[2]) * t),
    )


def _hex(rgb: tuple[int, int, int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def _heat_legend(top: int, uid: str) -> tuple[list[tuple[float, Swatch, str]], list[str]]:
    """The colour scale as legend entries (and the defs they need): every count from 0 to `top`
    when there are few, else 0 and a gradient from 1 to `top` (the colours are linear in the count
    from 1, so that the gradient shows each cell's colour at its place)."""
    if top <= 0:
        return [], []
    if top <= HEAT_STEPS_MAX:
        return [
            (14, _rect_swatch(_hex(_heat_colour(v, top)), "#d0d0d0"), str(v))
            for v in range(top + 1)
        ], []
    gradient = f"{uid}-scale"
    one = _text_width("1", LABEL_SIZE)
    ramp = 120.0

    def draw(x: float, y: float) -> str:
        return _tag("text", {"x": x, "y": y + 11.5}, "1") + _tag(
            "rect",
            {
                "class": "scale",
                "x": x + one + 6,
                "y": y,
                "width": ramp,
                "height": 14,
                "fill": f"url(#{gradient})",
                "stroke": "#d0d0d0",
            },
        )

    defs = [
        f'<linearGradient id="{gradient}" x1="0" y1="0" x2="1" y2="0">'
        f'<stop offset="0" stop-color="{_hex(_heat_colour(1, top))}"/>'
        f'<stop offset="1" stop-color="{_hex(_heat_colour(top, top))}"/></linearGradient>'
    ]
    zero = (14.0, _rect_swatch(_hex(_heat_colour(0, top)), "#d0d0d0"), "0")
    return [zero, (one + 6 + ramp, draw, str(top))], defs


def heatmap(
    title: str,
    row_labels: Sequence[str],
    column_labels: Sequence[str],
    values: Sequence[Sequence[int]],
    *,
    subtitle: str = "",
    diagonal: str = "",
) -> str:
    """A grid of cells coloured by value (0 very light, the maximum the strongest blue), each cell
    showing its number in a contrasting colour; row labels left, column labels on top, rotated
    -40 degrees when they would not fit horizontally; a legend with the colour of each count (up
    to 10) or a gradient from 1 to the maximum.

    `diagonal`, when given, says that the matrix is square with the same things as rows and
    columns, and is the legend's words for its diagonal: those cells (each thing with itself, a
    total rather than an overlap) are grey and kept off the colour scale, so that they do not
    pale the cells between different things."""
    if len(values) != len(row_labels):
        raise ValueError(f"{len(values)} rows of values for {len(row_labels)} row labels")
    if diagonal and len(row_labels) != len(column_labels):
        raise ValueError(
            f"a heatmap with a diagonal is square, not {len(row_labels)} × {len(column_labels)}"
        )
    for label, row in zip(row_labels, values, strict=True):
        if len(row) != len(column_labels):
            raise ValueError(
                f"row {label!r} has {len(row)} values for {len(column_labels)} columns"
            )
        for value in row:
            _check_number(value, f"a value of {label!r}")

    def on_diagonal(i: int, j: int) -> bool:
        return bool(diagonal) and i == j

    top = max(
        (
            int(v)
            for i, row in enumerate(values)
            for j, v in enumerate(row)
            if not on_diagonal(i, j)
        ),
        default=0,
    )
    uid = _uid("heatmap", title, tuple(row_labels), tuple(column_labels), tuple(map(tuple, values)))
    columns = [_fit(c, 200, LABEL_SIZE) for c in column_labels]
    column_widths = [_text_width(c, LABEL_SIZE) for c in columns]
    label_width = _label_width(row_labels, 240)
    number_width = max(
        (_text_width(str(int(v)), LABEL_SIZE) for row in values for v in row), default=0.0
    )
    cell_width = max(38.0, number_width + 12)
    widest = max(column_widths, default=0.0)
    rotated = widest + 10 > max(cell_width, 100.0)
    if not rotated:
        cell_width = max(cell_width, widest + 10)
    grid_left = PAD + label_width + 10
    n = len(column_labels)
    sin40, cos40 = math.sin(math.radians(40)), math.cos(math.radians(40))

    def overhang(cell: float) -> float:
        """How far rotated column labels reach right of the grid."""
        if not rotated:
            return 0.0
        return max(
            (
                max(0.0, (j + 0.5) * cell + cos40 * w - n * cell)
                for j, w in enumerate(column_widths)
            ),
            default=0.0,
        )

    content = grid_left + n * cell_width + overhang(cell_width) + PAD
    if content > MAX_WIDTH and n:
        smallest = max(number_width + 6, 22.0)
        while (
            cell_width > smallest
            and grid_left + n * cell_width + overhang(cell_width) + PAD > MAX_WIDTH
        ):
            cell_width -= 1
        content = grid_left + n * cell_width + overhang(cell_width) + PAD
    width = max(_canvas_width(content, title), content)

    legend_items, defs = _heat_legend(top, uid)
    hatch = f"{uid}-diagonal"
    if diagonal:
        defs.append(
            f'<pattern id="{hatch}" patternUnits="userSpaceOnUse" width="6" height="6" '
            f'patternTransform="rotate(45)"><rect width="6" height="6" fill="{DIAGONAL_FILL}"/>'
            f'<rect width="2" height="6" fill="{DIAGONAL_STRIPE}"/></pattern>'
        )
        legend_items.append((14, _rect_swatch(f"url(#{hatch})", "#b0b0b0"), diagonal))
    body, y = _header_and_legend(title, subtitle, width, legend_items)

    header_height = sin40 * widest + 16 if rotated else 22.0
    grid_top = y + header_height
    cell_height = 28.0
    for j, (column, shown) in enumerate(zip(column_labels, columns, strict=True)):
        cx = grid_left + (j + 0.5) * cell_width
        tip = _tooltip(column) if shown != column else ""
        if rotated:
            ax, ay = cx - 3, grid_top - 7
            body.append(
                _tag(
                    "text",
                    {
                        "class": "column-label",
                        "x": ax,
                        "y": ay,
                        "transform": f"rotate(-40 {_num(ax)} {_num(ay)})",
                    },
                    shown,
                    inner=tip,
                )
            )
        else:
            body.append(
                _tag(
                    "text",
                    {"class": "column-label", "x": cx, "y": grid_top - 8, "text-anchor": "middle"},
                    shown,
                    inner=tip,
                )
            )
    for i, (label, row) in enumerate(zip(row_labels, values, strict=True)):
        cy = grid_top + i * cell_height
        body.append(_row_label(label, grid_left - 8, cy + cell_height / 2 + 4, 240))
        for j, (column, value) in enumerate(zip(column_labels, row, strict=True)):
            own = on_diagonal(i, j)
            rgb = _rgb(DIAGONAL_FILL) if own else _heat_colour(int(value), top)
            x = grid_left + j * cell_width
            body.append(
                _tag(
                    "rect",
                    {
                        "class": "cell",
                        "data-label": f"{label} / {column}",
                        "data-row": label,
                        "data-column": column,
                        "data-value": str(int(value)),
                        "data-diagonal": "true" if own else None,
                        "x": x,
                        "y": cy,
                        "width": cell_width,
                        "height": cell_height,
                        "fill": f"url(#{hatch})" if own else _hex(rgb),
                        "stroke": "#ffffff",
                        "stroke-width": 2,
                    },
                    inner=_tooltip(
                        f"{label}, {column}: {int(value)}" + (f" ({diagonal})" if own else "")
                    ),
                )
            )
            body.append(
                _tag(
                    "text",
                    {
                        "class": "cell-value",
                        "x": x + cell_width / 2,
                        "y": cy + cell_height / 2 + 4,
                        "text-anchor": "middle",
                        "fill": INK if own else MUTED if value == 0 else _text_on(rgb),
                    },
                    str(int(value)),
                )
            )
    bottom = grid_top + cell_height * len(row_labels)
    if not row_labels or not column_labels:
        body.append(_no_data(grid_left, grid_top + 16))
        bottom = grid_top + 24
    return _document(title, width, bottom + PAD, defs, body)


# --- Gantt -------------------------------------------------------------------------------------

GANTT_LABEL_PX = 260.0
MARKER_LABEL_PX = 200.0
SPAN_HEIGHT = 14.0
MIN_SOLID_PX = 3.0  # the solid part of a bar known on a single day: a visible cap
OPEN_BACKGROUND = "#d4e5f3"  # between the stripes of an open part
OPEN_EDGE_OPACITY = 0.3  # an open part fades to this at the chart's edge
LEVEL_HEIGHT = 14.0  # one level of marker labels stacked above a row's bar


@dataclass(slots=True)
class _Placed:
    marker: Marker
    x: float
    level: int
    left: float  # the label's extent, including the diamond's pole
    right: float
    anchor_end: bool


def _place_labels(
    items: list[tuple[Marker, float, float]], low: float, high: float
) -> list[_Placed]:
    """Give each marker label a level above its row, so that no two labels at one level overlap and
    no label crosses the pole of another. Right to left: the leftmost labels go highest, so that
    their poles pass left of the labels below them."""
    gap = 8.0
    placed: list[_Placed] = []
    for marker, x, text_width in sorted(items, key=lambda item: -item[1]):
        anchor_end = x + 4 + text_width > high and x - 4 - text_width >= low
        left, right = (x - 4 - text_width, x) if anchor_end else (x, x + 4 + text_width)

        def clashes(
            level: int, strict: bool, left: float = left, right: float = right, x: float = x
        ) -> bool:
            for other in placed:
                if other.level == level and left < other.right + gap and other.left < right + gap:
                    return True
                if strict and other.level < level and other.left - 2 <= x <= other.right + 2:
                    return True  # our pole would cross a label below ours
                if strict and other.level > level and left - 2 <= other.x <= right + 2:
                    return True  # our label would cross a pole rising past it
            return False

        level = 0
        for strict in (True, False):
            level = 0
            while clashes(level, strict) and level < len(placed) + 1:
                level += 1
            if not clashes(level, strict):
                break
        placed.append(_Placed(marker, x, level, left, right, anchor_end))
    return placed


def _free_spot(text_width: float, taken: Sequence[float], low: float, high: float) -> float:
    """Where a text of this width starts on a row without touching the diamonds at `taken`:
    the start of the row, else just right (or left) of one of the diamonds."""
    candidates = [low] + [x + 12 for x in sorted(taken)] + [x - 12 - text_width for x in taken]
    for start in candidates:
        if start < low or start + text_width > high:
            continue
        if all(not (start - 10 <= x <= start + text_width + 10) for x in taken):
            return start
    return low


def _diamond(x: float, y: float, size: float) -> str:
    points = [(x, y - size), (x + size, y), (x, y + size), (x - size, y)]
    return " ".join(f"{_num(px)},{_num(py)}" for px, py in points)


@dataclass(frozen=True, slots=True)
class _GanttRow:
    name: str
    span: Span | None  # None for a row that only holds markers
    markers: tuple[Marker, ...]


def _gantt_rows(spans: Sequence[Span], markers: Sequence[Marker]) -> list[_GanttRow]:
    """One row per span in the given order; a marker goes on the first row with its label, or on
    a row of its own after the spans when no span has that label."""
    names = [s.label for s in spans]
    row_of: dict[str, int] = {}
    for index, name in enumerate(names):
        row_of.setdefault(name, index)
    for marker in markers:
        if marker.row not in row_of:
            row_of[marker.row] = len(names)
            names.append(marker.row)
    on_row: list[list[Marker]] = [[] for _ in names]
    for marker in markers:
        on_row[row_of[marker.row]].append(marker)
    return [
        _GanttRow(name, spans[i] if i < len(spans) else None, tuple(on_row[i]))
        for i, name in enumerate(names)
    ]


def _shift(day: date, delta: timedelta) -> date:
    """day + delta, held at date.min or date.max: data may sit at either end of the calendar."""
    try:
        return day + delta
    except OverflowError:
        return date.max if delta > timedelta(0) else date.min


def _year_starts(low: date, high: date) -> list[int]:
    """The years whose 1 January lies in low..high."""
    # 1 January of high.year + 1 is always past high, and does not exist after 9999.
    return [yr for yr in range(low.year, high.year + 1) if low <= date(yr, 1, 1) <= high]


def _known_part(span: Span) -> tuple[date, date] | None:
    """The days between which the row is known to have been running: from its start (else the day
    by which it had started) to its end (else the last day it was seen running). A single day when
    only one of these is known; None when none is."""
    low = span.start if span.start is not None else span.started_by
    high = span.end if span.end is not None else span.running_on
    if low is None:
        return None if high is None else (high, high)
    if high is None:
        return low, low
    if low <= high:
        return low, high
    # Contradictory data: a known bound wins over what only bounds an unknown one.
    if span.start is not None and span.end is None:
        return low, low  # seen running before its start: the known part is its start
    if span.start is None and span.end is not None:
        return high, high  # first seen after its end: the known part is its end
    return high, low


def _date_range(
    spans: Sequence[Span], markers: Sequence[Marker], today: date | None
) -> tuple[date, date]:
    """The dates at the plot's left and right ends. The range takes in every date, room for the
    open part of a bar whose start or end is unknown, a margin, and at least two 1 Januaries so
    that the axis has year ticks; it never leaves date.min..date.max."""
    known = [d for s in spans for d in (s.start, s.end, s.started_by, s.running_on) if d]
    known += [m.when for m in markers]
    if today is not None:
        known.append(today)
    if not known:
        known = [date.today()]
    first, last = min(known), max(known)
    # An open part as short as a few pixels would read as a hard end: give it room to be seen.
    room = timedelta(days=int(min(max((last - first).days * 0.15, 180), 550)))
    extent = list(known)
    for span in spans:
        part = _known_part(span)
        if part is None:
            continue
        if span.start is None:
            extent.append(_shift(part[0], -room))
        if span.end is None:
            extent.append(_shift(part[1], room))
    margin = timedelta(days=max(45, int((max(extent) - min(extent)).days * 0.03)))
    low, high = _shift(min(extent), -margin), _shift(max(extent), margin)
    if len(_year_starts(low, high)) < 2:
        first_year, next_year = min(extent).year, max(extent).year + 1
        if next_year > MAXYEAR:
            # No 1 January after 9999: the one of the year before the data is the second tick.
            first_year, next_year = max(first_year - 1, MINYEAR), MAXYEAR
        low = min(low, date(first_year, 1, 1))
        high = max(high, date(next_year, 1, 1))
    return low, high


@dataclass(frozen=True, slots=True)
class _TimeScale:
    """The horizontal layout of a Gantt chart: `low` at the plot's left end, `high` at its right."""

    low: date
    high: date
    left: float
    width: float

    @property
    def right(self) -> float:
        return self.left + self.width

    @property
    def total_days(self) -> int:
        return max((self.high - self.low).days, 1)

    def x(self, day: date) -> float:
        return self.left + self.width * (day - self.low).days / self.total_days


@dataclass(frozen=True, slots=True)
class _RowLayout:
    """Where a row sits: its top, the top of its bar, and its marker labels above the bar."""

    row: _GanttRow
    top: float
    bar_top: float
    labels: tuple[_Placed, ...]

    @property
    def centre(self) -> float:
        return self.bar_top + SPAN_HEIGHT / 2

    @property
    def bottom(self) -> float:
        return self.bar_top + SPAN_HEIGHT + 8


def _layout_rows(
    rows: Sequence[_GanttRow], scale: _TimeScale, top: float, width: float
) -> list[_RowLayout]:
    """Rows top to bottom, each as tall as the levels its marker labels need."""
    layouts: list[_RowLayout] = []
    cursor = top
    for row in rows:
        items = []
        for marker in row.markers:
            shown = _fit(marker.label, MARKER_LABEL_PX, SMALL_SIZE)
            items.append((marker, scale.x(marker.when), _text_width(shown, SMALL_SIZE)))
        placed = _place_labels(items, scale.left, width - PAD)
        levels = 1 + max((p.level for p in placed), default=-1)
        layout = _RowLayout(row, cursor, cursor + 8 + levels * LEVEL_HEIGHT, tuple(placed))
        layouts.append(layout)
        cursor = layout.bottom
    return layouts


@dataclass(frozen=True, slots=True)
class _OpenStyle:
    """The ids of the defs that draw the open part of a bar: a hatch, faded towards the edge of
    the chart where the unknown bound lies."""

    hatch: str
    start_mask: str  # fades out leftwards: an unknown start
    end_mask: str  # fades out rightwards: an unknown end

    @classmethod
    def for_chart(cls, uid: str) -> _OpenStyle:
        return cls(f"{uid}-open", f"{uid}-open-start", f"{uid}-open-end")

    def defs(self) -> list[str]:
        def mask(mask_id: str, left: float, right: float) -> str:
            # Mask content in the box of the masked bar, so that one mask serves every bar.
            return (
                f'<linearGradient id="{mask_id}-fade" x1="0" y1="0" x2="1" y2="0">'
                f'<stop offset="0" stop-color="#ffffff" stop-opacity="{_num(left)}"/>'
                f'<stop offset="1" stop-color="#ffffff" stop-opacity="{_num(right)}"/>'
                f"</linearGradient>"
                f'<mask id="{mask_id}" maskContentUnits="objectBoundingBox">'
                f'<rect width="1" height="1" fill="url(#{mask_id}-fade)"/></mask>'
            )

        return [
            f'<pattern id="{self.hatch}" patternUnits="userSpaceOnUse" width="6" height="6" '
            f'patternTransform="rotate(45)"><rect width="6" height="6" fill="{OPEN_BACKGROUND}"/>'
            f'<rect width="2.5" height="6" fill="{BAR_COLOUR}"/></pattern>',
            mask(self.start_mask, OPEN_EDGE_OPACITY, 1.0),
            mask(self.end_mask, 1.0, OPEN_EDGE_OPACITY),
        ]

    def attrs(self, side: str) -> dict[str, AttrValue]:
        mask_id = self.start_mask if side == "start" else self.end_mask
        return {"fill": f"url(#{self.hatch})", "mask": f"url(#{mask_id})"}


def _diamond_swatch(hollow: bool) -> Swatch:
    def draw(x: float, y: float) -> str:
        return _marker_shape(x + 7, y + 7, hollow, {})

    return draw


def _bar_swatch(fill: str) -> Swatch:
    def draw(x: float, y: float) -> str:
        return _tag("rect", {"x": x, "y": y + 2, "width": 28, "height": 10, "fill": fill})

    return draw


def _open_swatch(side: str, style: _OpenStyle) -> Swatch:
    """A short solid bar with its open part on the side of the unknown bound."""

    def draw(x: float, y: float) -> str:
        open_x, solid_x = (x, x + 22) if side == "start" else (x + 12, x)
        return _tag(
            "rect", {"x": open_x, "y": y + 2, "width": 22, "height": 10, **style.attrs(side)}
        ) + _tag("rect", {"x": solid_x, "y": y + 2, "width": 12, "height": 10, "fill": BAR_COLOUR})

    return draw


def _gantt_legend(
    spans: Sequence[Span], markers: Sequence[Marker], style: _OpenStyle
) -> list[tuple[float, Swatch, str]]:
    """The symbols this chart uses, and only those (a plain bar always)."""
    drawn = [s for s in spans if _known_part(s) is not None]
    items: list[tuple[float, Swatch, str]] = [(28, _bar_swatch(BAR_COLOUR), "known to be running")]
    if any(s.start is None for s in drawn):
        items.append((34, _open_swatch("start", style), "start unknown"))
    if any(s.end is None for s in drawn):
        items.append((34, _open_swatch("end", style), "end unknown"))
    if any(not m.approximate for m in markers):
        items.append((14, _diamond_swatch(False), "milestone"))
    if any(m.approximate for m in markers):
        items.append((14, _diamond_swatch(True), "approximate date"))
    return items


def _row_bands(layouts: Sequence[_RowLayout], width: float) -> list[str]:
    """Zebra bands behind every other row, so that a label can be followed to its bar."""
    return [
        _tag(
            "rect",
            {
                "class": "row-band",
                "x": PAD,
                "y": layout.top,
                "width": width - 2 * PAD,
                "height": layout.bottom - layout.top,
                "fill": "#f5f6f7",
            },
        )
        for index, layout in enumerate(layouts)
        if index % 2 == 0
    ]


def _year_axis(scale: _TimeScale, top: float, bottom: float) -> tuple[list[str], list[str]]:
    """Grid lines at 1 January (drawn behind) and the axis with year labels (drawn last),
    labelling every 1, 2, 5, 10, ... years so that the labels do not touch."""
    per_year = scale.width * 365.25 / scale.total_days
    year_label = _text_width("2000", SMALL_SIZE) + 10
    year_step = next(
        s for s in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000) if per_year * s >= year_label
    )
    # Yearly lines closer than this merge into a grey wash, and over millennia into thousands of
    # elements: then only the labelled years get one.
    every_year = per_year >= 4
    grid: list[str] = []
    axis: list[str] = []
    for yr in _year_starts(scale.low, scale.high):
        labelled = yr % year_step == 0
        if not (labelled or every_year):
            continue
        x = scale.x(date(yr, 1, 1))
        grid.append(_tag("line", {"x1": x, "y1": top, "x2": x, "y2": bottom, "stroke": GRID}))
        if labelled:
            axis += _tick(x, bottom, str(yr))
    axis.append(_axis_line(scale.left, scale.right, bottom))
    return grid, axis


def _span_tooltip(span: Span) -> str:
    """The row's dates in words, saying what bounds an unknown one."""
    if span.start is not None:
        begin = f"from {span.start.isoformat()}"
    elif span.started_by is not None:
        begin = f"start unknown, had started by {span.started_by.isoformat()}"
    else:
        begin = "start unknown"
    if span.end is not None:
        finish = f"until {span.end.isoformat()}"
    elif span.running_on is not None:
        finish = f"end unknown, still running on {span.running_on.isoformat()}"
    else:
        finish = "end unknown"
    return f"{span.label}: {begin}; {finish}"


def _span_row(layout: _RowLayout, scale: _TimeScale, style: _OpenStyle) -> list[str]:
    """The row's label and its bar: solid where the row is known to have been running, open
    (hatched, fading, no end cap) from there to the chart's edge on the side of an unknown start
    or end; the words "dates unknown" where nothing at all is known."""
    row = layout.row
    parts = [_row_label(row.name, scale.left - 12, layout.centre + 4, GANTT_LABEL_PX)]
    span = row.span
    if span is None:
        return parts
    known = _known_part(span)
    if known is None:
        x = _free_spot(
            _text_width("dates unknown", LABEL_SIZE),
            [p.x for p in layout.labels],
            scale.left + 6,
            scale.right,
        )
        parts.append(_no_data(x, layout.centre + 4, "dates unknown", label=span.label))
        return parts
    a, b = scale.x(known[0]), scale.x(known[1])
    if b - a < MIN_SOLID_PX:
        # A single known day still gets a visible solid cap, grown away from its known bound.
        if span.start is not None:
            b = a + MIN_SOLID_PX
        elif span.end is not None:
            a = b - MIN_SOLID_PX
        else:
            a, b = (a + b - MIN_SOLID_PX) / 2, (a + b + MIN_SOLID_PX) / 2
        if a < scale.left:
            a, b = scale.left, scale.left + MIN_SOLID_PX
        elif b > scale.right:
            a, b = scale.right - MIN_SOLID_PX, scale.right
    tip = _span_tooltip(span)
    for side, x0, x1 in (("start", scale.left, a), ("end", b, scale.right)):
        unknown = span.start is None if side == "start" else span.end is None
        if unknown and x1 - x0 >= 0.5:
            open_attrs: dict[str, AttrValue] = {
                "class": "span-open",
                "data-label": span.label,
                "data-side": side,
                "x": x0,
                "y": layout.bar_top,
                "width": x1 - x0,
                "height": SPAN_HEIGHT,
                **style.attrs(side),
            }
            parts.append(_tag("rect", open_attrs, inner=_tooltip(tip)))
    attrs: dict[str, AttrValue] = {
        "class": "span",
        "data-label": span.label,
        "data-start": span.start.isoformat() if span.start else "unknown",
        "data-end": span.end.isoformat() if span.end else "unknown",
        "data-started-by": span.started_by.isoformat()
        if span.start is None and span.started_by
        else None,
        "data-running-on": span.running_on.isoformat()
        if span.end is None and span.running_on
        else None,
        "x": a,
        "y": layout.bar_top,
        "width": b - a,
        "height": SPAN_HEIGHT,
        "fill": BAR_COLOUR,
        # Rounded only where both ends are known: an open side joins its hatch without a seam.
        "rx": 2 if span.start is not None and span.end is not None else None,
    }
    parts.append(_tag("rect", attrs, inner=_tooltip(tip)))
    return parts


def _today_line(x: float, today: date, top: float, bottom: float, width: float) -> list[str]:
    """A dashed line through the rows at x, labelled 'today' above them."""
    line = _tag(
        "line",
        {
            "class": "today",
            "data-value": today.isoformat(),
            "x1": x,
            "y1": top - 4,
            "x2": x,
            "y2": bottom,
            "stroke": INK,
            "stroke-width": 1.2,
            "stroke-dasharray": "5 4",
        },
    )
    half = _text_width("today", SMALL_SIZE) / 2
    anchor = "end" if x + half > width - PAD else "start" if x - half < PAD else "middle"
    label = _tag(
        "text",
        {
            "class": "today-label",
            "x": x,
            "y": top - 7,
            "text-anchor": anchor,
            "font-size": SMALL_SIZE,
        },
        "today",
    )
    return [line, label]


def _row_markers(layout: _RowLayout) -> list[str]:
    """Each marker of the row, left to right: a pole up to its label's level, the diamond on the
    bar, and the label."""
    parts: list[str] = []
    for item in sorted(layout.labels, key=lambda p: p.x):
        marker = item.marker
        baseline = layout.bar_top - 4 - item.level * LEVEL_HEIGHT
        parts.append(
            _tag(
                "line",
                {
                    "class": "pole",
                    "x1": item.x,
                    "y1": layout.bar_top,
                    "x2": item.x,
                    "y2": baseline - 8,
                    "stroke": "#555555",
                    "stroke-width": 0.8,
                },
            )
        )
        when = marker.when.isoformat() + (" (approximate)" if marker.approximate else "")
        parts.append(
            _marker_shape(
                item.x,
                layout.centre,
                marker.approximate,
                {
                    "class": "marker",
                    "data-label": marker.label,
                    "data-row": layout.row.name,
                    "data-value": marker.when.isoformat(),
                    "data-approximate": "true" if marker.approximate else "false",
                },
                tip=f"{marker.label}: {when}",
            )
        )
        parts.append(
            _tag(
                "text",
                {
                    "class": "marker-label",
                    "data-label": marker.label,
                    "x": item.x - 4 if item.anchor_end else item.x + 4,
                    "y": baseline,
                    "text-anchor": "end" if item.anchor_end else None,
                    "font-size": SMALL_SIZE,
                },
                _fit(marker.label, MARKER_LABEL_PX, SMALL_SIZE),
                inner=_tooltip(when),
            )
        )
    return parts


def gantt(
    title: str,
    spans: Sequence[Span],
    markers: Sequence[Marker] = (),
    *,
    today: date | None = None,
    subtitle: str = "",
) -> str:
    """One row per span on a time axis with year ticks: a solid bar where the row is known to
    have been running (from start, else `started_by`, to end, else `running_on`), and an unknown
    start or end drawn open (hatched, fading, no end cap) from there to the chart's edge;
    "dates unknown" when nothing is known; markers as diamonds on their row (hollow and dashed when approximate) with staggered labels;
    a dashed 'today' line when today is given; a legend for the symbols used. Any date from
    0001-01-01 to 9999-12-31 can be drawn."""
    uid = _uid("gantt", title, tuple(spans), tuple(markers), today, subtitle)
    rows = _gantt_rows(spans, markers)
    low, high = _date_range(spans, markers, today)
    label_width = _label_width([r.name for r in rows], GANTT_LABEL_PX)
    fixed = PAD + label_width + 12 + PAD
    width = _canvas_width(fixed + 660, title)
    scale = _TimeScale(low, high, PAD + label_width + 12, width - fixed)
    style = _OpenStyle.for_chart(uid)
    legend = _gantt_legend(spans, markers, style)
    body, plot_top = _header_and_legend(title, subtitle, width, legend)
    if today is not None:
        plot_top += 16  # room for the 'today' label above the rows
    layouts = _layout_rows(rows, scale, plot_top, width)
    plot_bottom = layouts[-1].bottom if layouts else plot_top + 30

    # Back to front: bands and grid, bars, the today line, then markers so that nothing hides them.
    body += _row_bands(layouts, width)
    grid, axis = _year_axis(scale, plot_top, plot_bottom)
    body += grid
    for layout in layouts:
        body += _span_row(layout, scale, style)
    if today is not None:
        body += _today_line(scale.x(today), today, plot_top, plot_bottom, width)
    for layout in layouts:
        body += _row_markers(layout)
    body += axis
    if not rows:
        body.append(_no_data(scale.left + 4, plot_top + 18))
    # The hatch and masks only when some bar has an open part (the legend then says which).
    opened = any(label in ("start unknown", "end unknown") for _, _, label in legend)
    return _document(title, width, plot_bottom + 24 + 10, style.defs() if opened else [], body)


def _marker_shape(
    x: float, y: float, hollow: bool, attrs: Mapping[str, AttrValue], tip: str = ""
) -> str:
    style: dict[str, AttrValue] = dict(attrs)
    style["points"] = _diamond(x, y, 6.5)
    if hollow:
        style.update(
            {
                "fill": "#ffffff",
                "stroke": MARKER_COLOUR,
                "stroke-width": 1.6,
                "stroke-dasharray": "2.5 1.5",
            }
        )
    else:
        style.update({"fill": MARKER_COLOUR, "stroke": "#ffffff", "stroke-width": 1.2})
    return _tag("polygon", style, inner=_tooltip(tip) if tip else "")


# --- HTML --------------------------------------------------------------------------------------


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return ", ".join(_cell(item) for item in value if item is not None)
    if isinstance(value, set | frozenset):
        return ", ".join(sorted(_cell(item) for item in value if item is not None))
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _html(text: str) -> str:
    return html.escape(_clean(text), quote=True)


def html_table(
    columns: Sequence[str], rows: Iterable[Mapping[str, object]], *, right: Collection[str] = ()
) -> str:
    """An HTML <table> fragment with a header row: cells escaped, None empty, lists joined with
    ', ', the columns in `right` right-aligned."""

    def cls(column: str) -> str:
        return ' class="num"' if column in right else ""

    # A break opportunity after each underscore, so that a column named `civil_society_share`
    # may take two lines rather than widen a printed table past the page.
    head = "".join(f"<th{cls(c)}>{_html(c).replace('_', '_<wbr>')}</th>" for c in columns)
    lines = [f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>"]
    for row in rows:
        cells = "".join(f"<td{cls(c)}>{_html(_cell(row.get(c)))}</td>" for c in columns)
        lines.append(f"<tr>{cells}</tr>")
    lines.append("</tbody>\n</table>")
    return "\n".join(lines)


_PAGE_CSS = """
body { font-family: %(font)s; color: #1a1a1a; background: #ffffff; line-height: 1.45;
  max-width: 1140px; margin: 0 auto; padding: 24px 20px 40px; font-size: 15px; }
h1 { font-size: 1.6em; margin: 0 0 0.8em; }
h2 { font-size: 1.2em; margin: 1.8em 0 0.6em; padding-bottom: 0.2em; border-bottom: 1px solid #dddddd; }
section { margin-bottom: 1.5em; }
svg { display: block; max-width: 100%%; height: auto; margin: 0.5em 0 1em; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-size: 14px; margin: 0.5em 0 1em; }
th, td { border: 1px solid #cccccc; padding: 4px 8px; text-align: left; vertical-align: top; }
thead th { background: #eaf0f5; }
tbody tr:nth-child(even) { background: #f6f8fa; }
.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
footer { margin-top: 2.5em; padding-top: 0.6em; border-top: 1px solid #dddddd; }
.note { font-size: 12px; color: #555555; }
@page { margin: 12mm; }
@media print {
  /* No page size is set, so that A4 and Letter both work: everything fits the page's width. */
  body { max-width: none; margin: 0; padding: 0; font-size: 10pt; line-height: 1.3; }
  h1 { font-size: 16pt; margin-bottom: 0.5em; }
  h2 { font-size: 12.5pt; margin-top: 1.2em; break-after: avoid; page-break-after: avoid; }
  /* A scrolling box would cut off on paper what does not fit: let it all show, and shrink. */
  .scroll { overflow: visible; }
  svg { max-width: 100%%; height: auto; break-inside: avoid; page-break-inside: avoid; }
  table { width: 100%%; font-size: 8pt; line-height: 1.25; }
  th, td { padding: 2px 4px; }
  /* Long identifiers, URLs and lists wrap inside their cell rather than widen the table; headings
     wrap at spaces and underscores only, so that none is cut into letters. */
  td { overflow-wrap: anywhere; }
  /* ... but not squeezed to a letter a line by the number columns, which do not wrap. */
  td:not(.num) { min-width: 5.5em; }
  th.num { white-space: normal; }
  td.num { white-space: nowrap; }
  tr, th, td { break-inside: avoid; page-break-inside: avoid; }
  thead { display: table-header-group; }
  thead th, tbody tr:nth-child(even) { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  tbody tr:nth-child(even) { background: #f3f3f3; }
  footer { break-inside: avoid; }
}
"""

_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>\s*")


def _same_heading(a: str, b: str) -> bool:
    return " ".join(a.split()).casefold() == " ".join(b.split()).casefold()


def html_page(title: str, parts: Sequence[tuple[str, str]], *, note: str = "") -> str:
    """A complete HTML5 document with inline CSS only: the title as <h1>, then for each
    (heading, fragment) an <h2> and the fragment (tables or inline SVG, inserted as given);
    `note` becomes a small footer paragraph. A first heading that only repeats the title gets no
    <h2>: the <h1> already heads its part."""
    font = FONT_STACK.replace("'", '"')
    lines = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_html(title)}</title>",
        f"<style>{_PAGE_CSS % {'font': font}}</style>",
        "</head>",
        "<body>",
        f"<h1>{_html(title)}</h1>",
    ]
    for index, (heading, fragment) in enumerate(parts):
        body = _XML_DECLARATION.sub("", fragment)
        repeated = index == 0 and _same_heading(heading, title)
        head = "" if repeated else f"<h2>{_html(heading)}</h2>\n"
        lines.append(f'<section>\n{head}<div class="scroll">\n{body}\n</div>\n</section>')
    if note:
        lines.append(f'<footer><p class="note">{_html(note)}</p></footer>')
    lines += ["</body>", "</html>"]
    return "\n".join(lines) + "\n"
