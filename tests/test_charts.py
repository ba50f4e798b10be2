"""SVG charts and the HTML page: valid XML, data on the elements, round ticks, no overlaps."""

from __future__ import annotations

import io
import itertools
import math
import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import date
from html.parser import HTMLParser
from pathlib import Path

import pytest

from atmptrack import results
from atmptrack.charts import (
    Bar,
    Marker,
    Span,
    bar_chart,
    gantt,
    heatmap,
    html_page,
    html_table,
    stacked_bars,
)
from atmptrack.render import svg_chart, write_sections
from atmptrack.results import Section

NS = "{http://www.w3.org/2000/svg}"
TRICKY = 'R&D <"lab">'
SERIES = ["academia", "industry", "government", "civil society", "unknown"]
HELIX_ROWS: list[tuple[str, list[float]]] = [
    ("GeneH", [2, 6, 3, 2, 0]),
    ("JOIN4ATMP", [4, 1, 0, 1, 1]),
]
COUNTRIES = ["PT", "SI", "DE", "ES", "IT", "FR", "GB", "FI"]
HELIX = ["academia", "industry", "government", "civil-society", "unknown"]
MATRIX = [
    [3, 4, 0, 0, 0],
    [2, 2, 2, 0, 0],
    [1, 0, 0, 1, 0],
    [12, 3, 1, 0, 0],
    [1, 0, 0, 0, 0],
    [0, 0, 0, 1, 1],
    [1, 0, 0, 0, 0],
    [0, 1, 0, 0, 0],
]
SPANS = [
    Span("GeneT", date(2024, 1, 1), date(2029, 12, 31)),
    Span("CTGCT", date(2023, 9, 1), None),
    Span("GeneH", None, date(2028, 12, 31)),
    Span("JOIN4ATMP", date(2024, 1, 1), date(2026, 12, 31)),
]
MARKERS = [
    Marker("JOIN4ATMP", date(2024, 1, 25), "kick-off"),
    Marker("GeneH", date(2025, 3, 21), "kick-off"),
]
TODAY = date(2026, 11, 21)


def funding_bars() -> list[Bar]:
    return [
        Bar("GeneH", 4885375, "4,885,375 EUR"),
        Bar("JOIN4ATMP", 3000000, "≈ 3,000,000 EUR", "hatched"),
        Bar("CTGCT", 30000000),
        Bar("GeneT", None),
    ]


# --- Helpers ---------------------------------------------------------------------------------


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == f"{NS}svg"
    return root


def by_class(root: ET.Element, cls: str) -> list[ET.Element]:
    return [e for e in root.iter() if e.get("class") == cls]


def text_of(element: ET.Element) -> str:
    """The visible text of a <text> element (its own text, not a <title> tooltip child)."""
    return element.text or ""


def legend_labels(root: ET.Element) -> list[str]:
    return [g.get("data-label") or "" for g in by_class(root, "legend")]


def visible_texts(root: ET.Element) -> list[str]:
    return [text_of(e) for e in root.iter(f"{NS}text")]


def defs_ids(root: ET.Element) -> dict[str, ET.Element]:
    return {e.get("id") or "": e for d in root.iter(f"{NS}defs") for e in d if e.get("id")}


def url_id(fill: str | None) -> str:
    match = re.fullmatch(r"url\(#([^)]+)\)", fill or "")
    assert match, fill
    return match.group(1)


def tick_value(label: str) -> float:
    text = label.replace(",", "").rstrip("%")
    factor = 1.0
    if text.endswith("M"):
        text, factor = text[:-1], 1e6
    elif text.endswith("k"):
        text, factor = text[:-1], 1e3
    return float(text) * factor


def is_round_step(step: float) -> bool:
    exponent = math.floor(math.log10(step))
    mantissa = step / 10**exponent
    return any(math.isclose(mantissa, m) for m in (1, 2, 5, 10))


def estimated_box(element: ET.Element) -> tuple[float, float, float, float]:
    """A generous box for a horizontal <text>: 0.6 em per character, ascent and descent."""
    size = float(element.get("font-size", "12"))
    width = 0.6 * size * len(text_of(element))
    x, y = float(element.get("x", "0")), float(element.get("y", "0"))
    anchor = element.get("text-anchor", "start")
    left = x - width if anchor == "end" else x - width / 2 if anchor == "middle" else x
    return left, y - 0.85 * size, left + width, y + 0.25 * size


def overlaps(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def all_charts() -> dict[str, str]:
    return {
        "bars": bar_chart("Funding per initiative", funding_bars(), unit="EUR", subtitle="sum"),
        "stacked": stacked_bars("Helix balance", HELIX_ROWS, SERIES, subtitle="partners"),
        "percent": stacked_bars("Helix balance", HELIX_ROWS, SERIES, percent=True, subtitle="%"),
        "heatmap": heatmap("Partners", COUNTRIES, HELIX, MATRIX, subtitle="by country"),
        "gantt": gantt("Timeline", SPANS, MARKERS, today=TODAY, subtitle="dates"),
    }


# --- Every chart -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(all_charts()))
def test_every_chart_is_a_standalone_readable_svg_document(name: str) -> None:
    svg = all_charts()[name]
    root = parse(svg)
    width, height = float(root.get("width", "0")), float(root.get("height", "0"))
    assert 480 <= width <= 1100 and height > 100
    assert root.get("viewBox") == f"0 0 {root.get('width')} {root.get('height')}"
    assert "sans-serif" in (root.get("font-family") or "")
    title = root.find(f"{NS}title")
    assert title is not None and title.text
    background = root.find(f"{NS}rect")
    assert background is not None and background.get("fill") == "#ffffff"
    assert background.get("width") == root.get("width")
    (heading,) = by_class(root, "title")
    assert heading.get("font-weight") == "bold" and heading.text == title.text
    assert by_class(root, "subtitle")
    sizes = [float(e.get("font-size", "12")) for e in root.iter() if e.get("font-size")]
    assert sizes and min(sizes) >= 11
    assert "<script" not in svg and "http" not in svg.replace(
        'xmlns="http://www.w3.org/2000/svg"', ""
    )
    for element in root.iter(f"{NS}text"):  # every text anchor lies inside the canvas
        x, y = float(element.get("x", "0")), float(element.get("y", "0"))
        assert 0 <= x <= width and 0 < y <= height, (name, element.text)
    for element in root.iter(f"{NS}text"):  # horizontal text fits in the canvas
        if element.get("transform") is None and element.text:
            left, _, right, _ = estimated_box(element)
            assert left >= 0 and right <= width + 1, (name, element.text)


def test_charts_are_deterministic_and_their_ids_differ_between_charts() -> None:
    assert all_charts() == all_charts()
    first = defs_ids(parse(gantt("One", SPANS)))
    second = defs_ids(parse(gantt("Two", SPANS)))
    assert first and not set(first) & set(second)


# --- Bar chart ---------------------------------------------------------------------------------


def test_bar_chart_has_one_bar_per_known_value_with_its_data() -> None:
    root = parse(bar_chart("Funding per initiative", funding_bars(), unit="EUR"))
    bars = by_class(root, "bar")
    assert [(b.get("data-label"), b.get("data-value")) for b in bars] == [
        ("GeneH", "4885375"),
        ("JOIN4ATMP", "3000000"),
        ("CTGCT", "30000000"),
    ]
    widths = [float(b.get("width", "0")) for b in bars]
    assert widths[2] > widths[0] > widths[1] > 0
    assert math.isclose(widths[0] / widths[2], 4885375 / 30000000, rel_tol=1e-3)
    texts = visible_texts(root)
    assert "Funding per initiative" in texts
    assert {"4,885,375 EUR", "≈ 3,000,000 EUR", "30,000,000 EUR"} <= set(texts)
    assert [t.text for t in by_class(root, "axis-title")] == ["EUR"]
    assert [t.text for t in by_class(root, "label")] == ["GeneH", "JOIN4ATMP", "CTGCT", "GeneT"]


def test_unknown_value_draws_no_bar_but_the_word_unknown_in_muted_text() -> None:
    root = parse(bar_chart("Funding", funding_bars()))
    assert "GeneT" not in {b.get("data-label") for b in by_class(root, "bar")}
    (unknown,) = by_class(root, "unknown")
    assert unknown.get("data-label") == "GeneT" and unknown.text == "unknown"
    assert unknown.get("fill") not in (None, "#000000", "#1a1a1a")


def test_hatched_bars_use_a_pattern_from_defs_and_the_legend_explains_them() -> None:
    root = parse(bar_chart("Funding", funding_bars()))
    patterns = defs_ids(root)
    hatched = [b for b in by_class(root, "bar") if b.get("data-style") == "hatched"]
    assert [b.get("data-label") for b in hatched] == ["JOIN4ATMP"]
    pattern = patterns[url_id(hatched[0].get("fill"))]
    assert pattern.tag == f"{NS}pattern"
    solid = [b for b in by_class(root, "bar") if b.get("data-style") == "solid"]
    assert all(not (b.get("fill") or "").startswith("url(") for b in solid)
    legend = [g.get("data-label") for g in by_class(root, "legend")]
    assert len(legend) == 2 and "approximate or estimated" in legend
    plain = parse(bar_chart("Funding", [Bar("A", 1), Bar("B", 2)]))
    assert not by_class(plain, "legend") and not defs_ids(plain)


def test_default_value_text_is_the_formatted_value_with_the_unit() -> None:
    root = parse(bar_chart("Funding", [Bar("A", 1234567), Bar("B", 2.5)], unit="EUR"))
    assert [t.text for t in by_class(root, "value")] == ["1,234,567 EUR", "2.5 EUR"]


@pytest.mark.parametrize("top", [0.8, 1, 7, 13, 99, 100, 1234, 48_000, 4_885_375, 30_000_000])
def test_value_axis_has_4_to_6_round_ascending_ticks_covering_the_data(top: float) -> None:
    root = parse(bar_chart("T", [Bar("a", top / 3), Bar("b", top)], unit="u"))
    ticks = by_class(root, "tick")
    values = [tick_value(t.text or "") for t in ticks]
    assert 4 <= len(values) <= 6
    assert values[0] == 0 and values[-1] >= top
    steps = [b - a for a, b in itertools.pairwise(values)]
    assert all(math.isclose(s, steps[0], rel_tol=1e-6) for s in steps) and is_round_step(steps[0])
    xs = [float(t.get("x", "0")) for t in ticks]
    assert xs == sorted(xs) and len(set(xs)) == len(xs)
    for a, b in itertools.pairwise(ticks):
        assert not overlaps(estimated_box(a), estimated_box(b))


def test_tick_labels_use_separators_or_suffixes() -> None:
    def labels(top: float) -> list[str]:
        return [t.text or "" for t in by_class(parse(bar_chart("T", [Bar("a", top)])), "tick")]

    assert labels(30_000_000) == ["0", "10M", "20M", "30M"]
    assert labels(48_000) == ["0", "10k", "20k", "30k", "40k", "50k"]
    assert labels(8_000) == ["0", "2,000", "4,000", "6,000", "8,000"]
    assert labels(0.8) == ["0", "0.2", "0.4", "0.6", "0.8"]


def test_user_text_is_escaped_and_round_trips() -> None:
    svg = bar_chart(TRICKY, [Bar(TRICKY, 5, TRICKY)], unit=TRICKY, subtitle=TRICKY)
    assert "&amp;" in svg and "&lt;" in svg and '<"lab">' not in svg
    root = parse(svg)
    assert root.find(f"{NS}title") is not None
    assert (root.findtext(f"{NS}title")) == TRICKY
    assert by_class(root, "bar")[0].get("data-label") == TRICKY
    assert visible_texts(root).count(TRICKY) >= 4  # title, subtitle, label, value text, axis title
    for svg in (
        stacked_bars(TRICKY, [(TRICKY, [1, 2])], [TRICKY, "b"]),
        heatmap(TRICKY, [TRICKY], [TRICKY], [[1]]),
        gantt(
            TRICKY,
            [Span(TRICKY, date(2024, 1, 1), None)],
            [Marker(TRICKY, date(2024, 3, 1), TRICKY)],
        ),
        html_page(TRICKY, [(TRICKY, html_table([TRICKY], [{TRICKY: TRICKY}]))], note=TRICKY),
    ):
        assert '<"lab">' not in svg and "R&D " not in svg
    root = parse(
        gantt(
            TRICKY,
            [Span(TRICKY, date(2024, 1, 1), None)],
            [Marker(TRICKY, date(2024, 3, 1), TRICKY)],
        )
    )
    assert by_class(root, "marker")[0].get("data-label") == TRICKY
    assert by_class(root, "span")[0].get("data-label") == TRICKY


def test_characters_not_allowed_in_xml_are_dropped() -> None:
    root = parse(bar_chart("bell\x07", [Bar("nul\x00label", 1)]))
    assert by_class(root, "bar")[0].get("data-label") == "nullabel"


def test_long_labels_and_many_rows_stay_within_the_width_and_grow_the_height() -> None:
    few = parse(bar_chart("T", [Bar("x" * 300, 5, "y" * 200)]))
    many = parse(bar_chart("T", [Bar(f"initiative {i}", i) for i in range(40)]))
    for root in (few, many):
        assert 480 <= float(root.get("width", "0")) <= 1100
    assert float(many.get("height", "0")) > float(few.get("height", "0")) + 30 * 28
    (label,) = by_class(few, "label")
    assert (label.text or "").endswith("…")
    assert label.findtext(f"{NS}title") == "x" * 300  # the whole label as a tooltip
    assert by_class(few, "bar")[0].get("data-label") == "x" * 300
    labels = by_class(many, "label")
    ys = [float(t.get("y", "0")) for t in labels]
    assert all(b - a >= 14 for a, b in itertools.pairwise(ys))


def test_long_title_wraps_inside_the_canvas() -> None:
    title = "A very long title about the funding of gene and cell therapy initiatives " * 3
    root = parse(bar_chart(title, [Bar("a", 1)]))
    lines = by_class(root, "title")
    assert len(lines) > 1 and " ".join(t.text or "" for t in lines) == title.strip()
    assert float(root.get("width", "0")) <= 1100


def test_invalid_bars_are_rejected() -> None:
    with pytest.raises(ValueError, match="style"):
        bar_chart("T", [Bar("a", 1, style="dotted")])
    with pytest.raises(ValueError):
        bar_chart("T", [Bar("a", -1)])
    with pytest.raises(ValueError):
        bar_chart("T", [Bar("a", math.nan)])


def test_an_empty_bar_chart_is_still_a_document() -> None:
    root = parse(bar_chart("Nothing", []))
    assert not by_class(root, "bar") and "no data" in visible_texts(root)


# --- Stacked bars ------------------------------------------------------------------------------


def test_stacked_bars_have_a_segment_per_nonzero_value_and_a_legend_per_series() -> None:
    root = parse(stacked_bars("Helix balance", HELIX_ROWS, SERIES))
    segments = by_class(root, "segment")
    assert [(s.get("data-row"), s.get("data-label"), s.get("data-value")) for s in segments] == [
        ("GeneH", "academia", "2"),
        ("GeneH", "industry", "6"),
        ("GeneH", "government", "3"),
        ("GeneH", "civil society", "2"),
        ("JOIN4ATMP", "academia", "4"),
        ("JOIN4ATMP", "industry", "1"),
        ("JOIN4ATMP", "civil society", "1"),
        ("JOIN4ATMP", "unknown", "1"),
    ]
    assert [g.get("data-label") for g in by_class(root, "legend")] == SERIES
    colours = {s.get("data-label"): s.get("fill") for s in segments}
    assert len(set(colours.values())) == len(colours)  # one colour per series
    assert [t.text for t in by_class(root, "total")] == ["13", "7"]
    # segments follow each other without gaps, in series order
    for row in ("GeneH", "JOIN4ATMP"):
        parts = [s for s in segments if s.get("data-row") == row]
        for a, b in itertools.pairwise(parts):
            end = float(a.get("x", "0")) + float(a.get("width", "0"))
            assert math.isclose(end, float(b.get("x", "0")), abs_tol=0.02)


def test_percent_rows_sum_to_100_and_have_the_same_length() -> None:
    root = parse(stacked_bars("Helix balance", HELIX_ROWS, SERIES, percent=True))
    segments = by_class(root, "segment")
    lengths = []
    for row in ("GeneH", "JOIN4ATMP"):
        parts = [s for s in segments if s.get("data-row") == row]
        assert math.isclose(
            sum(float(s.get("data-percent", "0")) for s in parts), 100, abs_tol=0.01
        )
        lengths.append(sum(float(s.get("width", "0")) for s in parts))
    assert math.isclose(lengths[0], lengths[1], abs_tol=0.05)
    assert [t.text for t in by_class(root, "tick")] == ["0%", "20%", "40%", "60%", "80%", "100%"]
    assert [t.text for t in by_class(root, "total")] == ["n = 13", "n = 7"]


def test_segments_show_their_count_only_when_wide_enough() -> None:
    root = parse(stacked_bars("T", [("wide", [5000, 1, 3000])], ["a", "b", "c"]))
    inside = [t.text for t in by_class(root, "segment-value")]
    assert inside == ["5,000", "3,000"]
    for text in by_class(root, "segment-value"):
        fill = text.get("fill")
        assert fill in ("#ffffff", "#1a1a1a")


def test_stacked_rows_must_match_the_series() -> None:
    with pytest.raises(ValueError, match="series"):
        stacked_bars("T", [("a", [1, 2])], ["x", "y", "z"])


def test_a_row_of_zeros_says_no_data() -> None:
    root = parse(stacked_bars("T", [("a", [0, 0]), ("b", [1, 1])], ["x", "y"], percent=True))
    assert [s.get("data-row") for s in by_class(root, "segment")] == ["b", "b"]
    assert "no data" in visible_texts(root)


# --- Heatmap -----------------------------------------------------------------------------------


def luminance(colour: str) -> float:
    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def test_heatmap_has_a_cell_per_row_and_column_showing_its_number() -> None:
    root = parse(heatmap("Partners", COUNTRIES, HELIX, MATRIX))
    cells = by_class(root, "cell")
    assert len(cells) == len(COUNTRIES) * len(HELIX)
    expected = [
        (r, c, str(MATRIX[i][j])) for i, r in enumerate(COUNTRIES) for j, c in enumerate(HELIX)
    ]
    assert [
        (e.get("data-row"), e.get("data-column"), e.get("data-value")) for e in cells
    ] == expected
    assert cells[0].get("data-label") == "PT / academia"
    numbers = by_class(root, "cell-value")
    assert [n.text for n in numbers] == [v for _, _, v in expected]
    for cell, number in zip(cells, numbers, strict=True):  # each number sits inside its cell
        x, y = float(cell.get("x", "0")), float(cell.get("y", "0"))
        w, h = float(cell.get("width", "0")), float(cell.get("height", "0"))
        assert x < float(number.get("x", "0")) < x + w and y < float(number.get("y", "0")) < y + h
    assert [t.text for t in by_class(root, "label")] == COUNTRIES
    assert [t.text for t in by_class(root, "column-label")] == HELIX


def test_heatmap_colours_grow_with_the_value_and_text_contrasts() -> None:
    root = parse(heatmap("Partners", COUNTRIES, HELIX, MATRIX))
    cells = by_class(root, "cell")
    numbers = by_class(root, "cell-value")
    by_value: dict[int, float] = {}
    for cell in cells:
        by_value[int(cell.get("data-value", "0"))] = luminance(cell.get("fill", "#000000"))
    ordered = [by_value[v] for v in sorted(by_value)]
    assert ordered == sorted(ordered, reverse=True)  # larger values are darker
    assert by_value[0] > 230  # zero is very light
    strongest = next(n for n in numbers if n.text == "12")
    assert strongest.get("fill") == "#ffffff"
    lightest = next(n for n in numbers if n.text == "1")
    assert lightest.get("fill") != "#ffffff"


def test_heatmap_rotates_column_labels_only_when_they_do_not_fit() -> None:
    short = parse(heatmap("T", ["a"], ["PT", "SI"], [[1, 2]]))
    assert all(t.get("transform") is None for t in by_class(short, "column-label"))
    long_columns = ["academic institutions", "industry partners", "civil society organisations"]
    rotated = parse(heatmap("T", ["a", "b"], long_columns, [[1, 2, 3], [4, 5, 6]]))
    labels = by_class(rotated, "column-label")
    assert len(labels) == 3 and all("rotate(-40" in (t.get("transform") or "") for t in labels)
    width = float(rotated.get("width", "0"))
    for label in labels:  # the rotated text ends inside the canvas
        reach = float(label.get("x", "0")) + 0.6 * 12 * len(label.text or "") * math.cos(
            math.radians(40)
        )
        top = float(label.get("y", "0")) - 0.6 * 12 * len(label.text or "") * math.sin(
            math.radians(40)
        )
        assert reach <= width + 5 and top > 0
    first_cell = by_class(rotated, "cell")[0]
    assert all(float(t.get("y", "0")) < float(first_cell.get("y", "0")) for t in labels)


def test_heatmap_shape_is_checked() -> None:
    with pytest.raises(ValueError):
        heatmap("T", ["a", "b"], ["x"], [[1]])
    with pytest.raises(ValueError):
        heatmap("T", ["a"], ["x", "y"], [[1]])


def test_many_heatmap_columns_still_fit_in_the_maximum_width() -> None:
    columns = [f"C{i}" for i in range(30)]
    root = parse(heatmap("T", ["a"], columns, [list(range(30))]))
    assert float(root.get("width", "0")) <= 1100
    assert len(by_class(root, "cell")) == 30


# The overlap report's matrix: shared partners per pair, the diagonal each one's own partners.
INITIATIVES = ["at-network-catalonia", "ctgct", "geneh", "genet", "join4atmp"]
OVERLAP = [
    [2, 0, 0, 0, 0],
    [0, 1, 1, 0, 0],
    [0, 1, 13, 1, 0],
    [0, 0, 1, 3, 0],
    [0, 0, 0, 0, 7],
]


def overlap_chart() -> results.Heatmap:
    return results.Heatmap(
        "Shared partners between initiatives",
        series=INITIATIVES,
        rows=[
            results.Values(ini, [float(v) for v in row])
            for ini, row in zip(INITIATIVES, OVERLAP, strict=True)
        ],
    )


def is_grey(colour: str) -> bool:
    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return r == g == b


def test_the_diagonal_of_the_overlap_does_not_set_the_colour_scale() -> None:
    root = parse(svg_chart(overlap_chart()))
    cells = by_class(root, "cell")
    diagonal = [c for c in cells if c.get("data-row") == c.get("data-column")]
    others = [c for c in cells if c.get("data-row") != c.get("data-column")]
    assert all(c.get("data-diagonal") == "true" for c in diagonal)
    assert not any(c.get("data-diagonal") for c in others)
    # The real overlaps are read on their own scale: the largest (1) is the strongest blue,
    # not a pale tint beside geneh's 13 partners.
    ones = {c.get("fill") for c in others if c.get("data-value") == "1"}
    assert ones == {"#08306b"}
    # The diagonal is neutral: a grey hatch, not a colour of the scale, with its number in ink.
    found = defs_ids(root)
    for cell in diagonal:
        pattern = found[url_id(cell.get("fill"))]
        assert pattern.tag == f"{NS}pattern"
        assert all(is_grey(r.get("fill", "")) for r in pattern.iter(f"{NS}rect"))
    numbers = by_class(root, "cell-value")
    assert [n.text for n in numbers] == [str(v) for row in OVERLAP for v in row]
    inks = [n.get("fill") for n, c in zip(numbers, cells, strict=True) if c.get("data-diagonal")]
    assert inks == ["#1a1a1a"] * 5
    legend = legend_labels(root)
    assert legend[:2] == ["0", "1"]  # the scale of the off-diagonal cells only
    (explained,) = (entry for entry in legend if "diagonal" in entry)
    assert "not on the colour scale" in explained


def test_a_heatmap_that_is_not_square_keeps_every_cell_on_the_scale() -> None:
    chart = results.Heatmap(
        "Organisations by country and helix",
        series=HELIX,
        rows=[
            results.Values(country, [float(v) for v in row])
            for country, row in zip(COUNTRIES, MATRIX, strict=True)
        ],
    )
    root = parse(svg_chart(chart))
    cells = by_class(root, "cell")
    assert not any(c.get("data-diagonal") for c in cells)
    assert not any("diagonal" in entry for entry in legend_labels(root))
    strongest = {c.get("fill") for c in cells if c.get("data-value") == "12"}
    assert strongest == {"#08306b"}
    assert all((c.get("fill") or "").startswith("#") for c in cells)


def test_a_heatmap_with_a_diagonal_must_be_square() -> None:
    with pytest.raises(ValueError, match="square"):
        heatmap("T", ["a", "b"], ["a"], [[1], [2]], diagonal="itself")


def swatch_fill(entry: ET.Element) -> str:
    return next(entry.iter(f"{NS}rect")).get("fill") or ""


def test_heatmap_legend_shows_every_count_in_the_colours_of_the_cells() -> None:
    values = [[0, 1, 2], [3, 1, 0]]
    root = parse(heatmap("T", ["a", "b"], ["x", "y", "z"], values))
    entries = by_class(root, "legend")
    # Evenly stepped: every count from 0 to the largest, none left out.
    assert [e.get("data-label") for e in entries] == ["0", "1", "2", "3"]
    fills = {c.get("data-value"): c.get("fill") for c in by_class(root, "cell")}
    for entry in entries:
        assert swatch_fill(entry) == fills[entry.get("data-label")]


def test_a_heatmap_with_large_counts_has_a_gradient_legend_matching_the_cells() -> None:
    root = parse(heatmap("Partners", COUNTRIES, HELIX, MATRIX))
    entries = by_class(root, "legend")
    assert [e.get("data-label") for e in entries] == ["0", "12"]
    zero, ramp = entries
    fills = {int(c.get("data-value", "0")): c.get("fill") or "" for c in by_class(root, "cell")}
    assert swatch_fill(zero) == fills[0]
    assert "1" in [t.text for t in ramp.iter(f"{NS}text")]  # the ramp runs from 1 ...
    (bar,) = (r for r in ramp.iter(f"{NS}rect") if (r.get("fill") or "").startswith("url("))
    gradient = defs_ids(root)[url_id(bar.get("fill"))]
    stops = [s.get("stop-color") or "" for s in gradient]
    assert stops == [fills[1], fills[12]]  # ... to 12, in the colours of those cells
    low, high = _rgb(stops[0]), _rgb(stops[1])
    for value, fill in fills.items():  # and each cell's colour lies on it at its place
        if value:
            t = (value - 1) / 11
            expected = [lo + (hi - lo) * t for lo, hi in zip(low, high, strict=True)]
            assert all(abs(c - e) <= 1.5 for c, e in zip(_rgb(fill), expected, strict=True)), value


def _rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


# --- Gantt -------------------------------------------------------------------------------------


def marker_x(element: ET.Element) -> float:
    xs = [float(p.split(",")[0]) for p in (element.get("points") or "").split()]
    return (min(xs) + max(xs)) / 2


def plot_edges(root: ET.Element) -> tuple[float, float]:
    """The left and right ends of a Gantt chart's time axis (its horizontal axis line)."""
    (axis,) = (
        e
        for e in root.iter(f"{NS}line")
        if e.get("stroke") == "#8c8c8c" and e.get("y1") == e.get("y2")
    )
    return float(axis.get("x1", "0")), float(axis.get("x2", "0"))


def extent(element: ET.Element) -> tuple[float, float]:
    x = float(element.get("x", "0"))
    return x, x + float(element.get("width", "0"))


def bar_of(root: ET.Element, label: str) -> tuple[ET.Element, dict[str, ET.Element]]:
    """A row's solid part and its open parts by side ("start", "end")."""
    (solid,) = (e for e in by_class(root, "span") if e.get("data-label") == label)
    opened = {
        e.get("data-side") or "": e
        for e in by_class(root, "span-open")
        if e.get("data-label") == label
    }
    return solid, opened


def drawn_extent(root: ET.Element, label: str) -> tuple[float, float]:
    """From where to where anything of a row's bar is drawn, solid or open."""
    parts = [
        extent(e)
        for e in root.iter(f"{NS}rect")
        if e.get("class") in ("span", "span-open") and e.get("data-label") == label
    ]
    assert parts, f"no bar drawn for {label}"
    return min(p[0] for p in parts), max(p[1] for p in parts)


def day_x(root: ET.Element, day: date) -> float:
    """Where a day lies, from the year ticks around it."""
    years = {int(t.text or "0"): float(t.get("x", "0")) for t in by_class(root, "tick")}
    low, high = years[day.year], years[day.year + 1]
    days = (date(day.year + 1, 1, 1) - date(day.year, 1, 1)).days
    return low + (high - low) * (day - date(day.year, 1, 1)).days / days


# The timeline report's chart, as `report timeline` builds it from the bundled data.
REPORT_TIMELINE = results.Gantt(
    "Initiatives from start to end, with milestones",
    spans=[
        results.Span(
            "at-network-catalonia",
            None,
            None,
            started_by=date(2022, 1, 1),
            running_on=date(2022, 12, 31),
        ),
        results.Span("CTGCT", date(2023, 9, 1), None),
        results.Span("GeneT", date(2024, 1, 1), date(2029, 12, 31)),
        results.Span("JOIN4ATMP", date(2024, 1, 1), date(2026, 12, 31)),
        results.Span("GeneH", None, date(2028, 12, 31), started_by=date(2025, 3, 21)),
    ],
    markers=[
        results.Marker("at-network-catalonia", date(2022, 1, 1), "mandate", True),
        results.Marker("JOIN4ATMP", date(2024, 1, 25), "kick-off"),
        results.Marker("GeneH", date(2025, 3, 21), "kick-off"),
    ],
    today=TODAY,
)


def test_an_unknown_start_is_open_to_the_left_edge_and_bounded_by_the_first_milestone() -> None:
    root = parse(svg_chart(REPORT_TIMELINE))
    left, right = plot_edges(root)
    (kick_off,) = (m for m in by_class(root, "marker") if m.get("data-row") == "GeneH")
    # Drawn from the left edge, not fading in from late 2027 after its March 2025 kick-off.
    assert drawn_extent(root, "GeneH")[0] == pytest.approx(left, abs=0.02)
    solid, opened = bar_of(root, "GeneH")
    start, end = extent(solid)
    # It had started by its kick-off: the solid part begins there at the latest.
    assert start <= marker_x(kick_off) + 0.5
    assert solid.get("data-start") == "unknown" and solid.get("data-started-by") == "2025-03-21"
    assert math.isclose(start, day_x(root, date(2025, 3, 21)), abs_tol=1)
    assert math.isclose(end, day_x(root, date(2028, 12, 31)), abs_tol=1)
    assert list(opened) == ["start"]
    assert extent(opened["start"]) == pytest.approx((left, start), abs=0.02)
    assert right - end > 50  # a known end: nothing drawn after it


def test_an_unknown_end_is_open_to_the_right_edge() -> None:
    root = parse(svg_chart(REPORT_TIMELINE))
    left, right = plot_edges(root)
    # Not as if it ended in 2024: the bar runs on past today to the right edge of the chart.
    assert drawn_extent(root, "CTGCT")[1] == pytest.approx(right, abs=0.02)
    solid, opened = bar_of(root, "CTGCT")
    assert solid.get("data-end") == "unknown" and solid.get("data-running-on") is None
    start, end = extent(solid)
    # The known start is a hard edge; the solid part is only a cap, nothing says when it ran on.
    assert math.isclose(start, day_x(root, date(2023, 9, 1)), abs_tol=1)
    assert 0 < end - start <= 4
    assert list(opened) == ["end"]
    assert extent(opened["end"]) == pytest.approx((end, right), abs=0.02)
    (today,) = by_class(root, "today")
    assert right > float(today.get("x1", "0")) > start > left


def test_both_bounds_unknown_is_open_edge_to_edge_solid_between_what_is_known() -> None:
    root = parse(svg_chart(REPORT_TIMELINE))
    left, right = plot_edges(root)
    solid, opened = bar_of(root, "at-network-catalonia")
    start, end = extent(solid)
    assert math.isclose(start, day_x(root, date(2022, 1, 1)), abs_tol=1)
    assert math.isclose(end, day_x(root, date(2022, 12, 31)), abs_tol=1)
    assert extent(opened["start"]) == pytest.approx((left, start), abs=0.02)
    assert extent(opened["end"]) == pytest.approx((end, right), abs=0.02)
    assert solid.get("data-started-by") == "2022-01-01"
    assert solid.get("data-running-on") == "2022-12-31"


def test_a_running_on_day_keeps_the_solid_part_until_then() -> None:
    spans = [Span("A", date(2023, 1, 1), None, running_on=date(2025, 6, 1))]
    root = parse(gantt("T", spans, [Marker("A", date(2025, 6, 1), "meeting")]))
    solid, opened = bar_of(root, "A")
    start, end = extent(solid)
    assert math.isclose(start, day_x(root, date(2023, 1, 1)), abs_tol=1)
    assert math.isclose(end, day_x(root, date(2025, 6, 1)), abs_tol=1)
    assert extent(opened["end"])[1] == pytest.approx(plot_edges(root)[1], abs=0.02)


def test_no_row_is_drawn_ending_before_its_own_milestones() -> None:
    markers = [
        *(results.Marker(m.row, m.day, m.label, m.approximate) for m in REPORT_TIMELINE.markers),
        results.Marker("CTGCT", date(2026, 5, 1), "general assembly"),
    ]
    chart = results.Gantt(REPORT_TIMELINE.title, REPORT_TIMELINE.spans, markers, TODAY)
    root = parse(svg_chart(chart))
    for marker in sorted(by_class(root, "marker"), key=lambda m: m.get("data-row") or ""):
        label = marker.get("data-row") or ""
        low, high = drawn_extent(root, label)
        assert low - 0.5 <= marker_x(marker) <= high + 0.5, (label, marker.get("data-label"))


def test_open_parts_are_hatched_fading_and_uncapped_and_known_bars_are_solid() -> None:
    spans = [*SPANS, Span("Mystery", None, None)]
    root = parse(gantt("Timeline", spans, MARKERS, today=TODAY))
    drawn = {s.get("data-label"): s for s in by_class(root, "span")}
    assert list(drawn) == ["GeneT", "CTGCT", "GeneH", "JOIN4ATMP"]
    for solid in drawn.values():
        assert solid.get("fill") == "#0072B2" and solid.get("stroke") is None
    # Rounded ends only where both dates are known: an open side has no cap.
    assert [name for name, e in drawn.items() if e.get("rx")] == ["GeneT", "JOIN4ATMP"]
    found = defs_ids(root)
    opened = by_class(root, "span-open")
    assert sorted((e.get("data-label"), e.get("data-side")) for e in opened) == [
        ("CTGCT", "end"),
        ("GeneH", "start"),
    ]
    for part in opened:
        assert part.get("stroke") is None
        assert found[url_id(part.get("fill"))].tag == f"{NS}pattern"
        mask = found[url_id(part.get("mask"))]
        (gradient,) = (found[url_id(r.get("fill"))] for r in mask.iter(f"{NS}rect"))
        opacities = [float(s.get("stop-opacity", "1")) for s in gradient]
        # Faded towards the chart's edge: on the left for an unknown start, right for an end.
        if part.get("data-side") == "start":
            assert opacities[0] < opacities[1]
        else:
            assert opacities[0] > opacities[1]
    # Without a started_by, GeneH is known only at its end: a cap there, open to the left edge.
    left, _ = plot_edges(root)
    solid, parts = bar_of(root, "GeneH")
    assert math.isclose(extent(solid)[1], day_x(root, date(2028, 12, 31)), abs_tol=1)
    assert extent(parts["start"])[0] == pytest.approx(left, abs=0.02)
    (unknown,) = by_class(root, "unknown")
    assert unknown.get("data-label") == "Mystery" and unknown.text == "dates unknown"
    assert [t.text for t in by_class(root, "label")] == [s.label for s in spans]


def test_contradictory_bounds_keep_the_known_date() -> None:
    spans = [
        # first seen after its own end; seen running before its own start
        Span("A", None, date(2024, 1, 1), started_by=date(2025, 1, 1)),
        Span("B", date(2024, 1, 1), None, running_on=date(2023, 1, 1)),
    ]
    root = parse(gantt("T", spans))
    a, _ = bar_of(root, "A")
    b, _ = bar_of(root, "B")
    assert math.isclose(extent(a)[1], day_x(root, date(2024, 1, 1)), abs_tol=1)
    assert extent(a)[1] - extent(a)[0] <= 4
    assert math.isclose(extent(b)[0], day_x(root, date(2024, 1, 1)), abs_tol=1)
    assert extent(b)[1] - extent(b)[0] <= 4


def test_the_gantt_legend_names_an_unknown_start_and_end_apart_and_only_when_present() -> None:
    root = parse(svg_chart(REPORT_TIMELINE))
    assert legend_labels(root) == [
        "known to be running",
        "start unknown",
        "end unknown",
        "milestone",
        "approximate date",
    ]
    # Each swatch has its open part on its own side of the solid one.
    for entry in by_class(root, "legend"):
        rects = list(entry.iter(f"{NS}rect"))
        if entry.get("data-label") == "start unknown":
            assert float(rects[0].get("x", "0")) < float(rects[1].get("x", "0"))
            assert (rects[0].get("fill") or "").startswith("url(")
        if entry.get("data-label") == "end unknown":
            assert float(rects[0].get("x", "0")) > float(rects[1].get("x", "0"))
            assert (rects[0].get("fill") or "").startswith("url(")
    day = date(2024, 1, 1)
    only_start = parse(gantt("T", [Span("A", None, day), Span("B", day, day)]))
    assert legend_labels(only_start) == ["known to be running", "start unknown"]
    only_end = parse(gantt("T", [Span("A", day, None)]))
    assert legend_labels(only_end) == ["known to be running", "end unknown"]
    known = parse(gantt("T", [Span("A", day, day), Span("B", None, None)]))
    assert legend_labels(known) == ["known to be running"]
    assert not defs_ids(known) and not by_class(known, "span-open")


def test_gantt_bars_sit_between_their_dates_on_the_year_axis() -> None:
    root = parse(gantt("Timeline", SPANS, MARKERS, today=TODAY))
    years = {int(t.text or "0"): float(t.get("x", "0")) for t in by_class(root, "tick")}
    assert list(years) == sorted(years) and {2024, 2025, 2026, 2027, 2028, 2029} <= set(years)
    xs = list(years.values())
    assert xs == sorted(xs)
    span = next(s for s in by_class(root, "span") if s.get("data-label") == "JOIN4ATMP")
    left = float(span.get("x", "0"))
    right = left + float(span.get("width", "0"))
    assert math.isclose(left, years[2024], abs_tol=0.5) and math.isclose(
        right, years[2027], abs_tol=1
    )
    assert years[2030] <= float(root.get("width", "0")) - 10  # the end of GeneT plus a margin


def test_gantt_markers_with_labels_and_x_increasing_with_dates() -> None:
    markers = [
        Marker("GeneT", date(2027, 6, 1), "mid-term review"),
        Marker("GeneT", date(2024, 2, 1), "kick-off"),
        Marker("GeneT", date(2029, 11, 1), "final report", approximate=True),
        *MARKERS,
    ]
    root = parse(gantt("Timeline", SPANS, markers, today=TODAY))
    found = by_class(root, "marker")
    assert len(found) == len(markers)
    assert sorted(
        (m.get("data-row", ""), m.get("data-value", ""), m.get("data-label", "")) for m in found
    ) == sorted((m.row, m.when.isoformat(), m.label) for m in markers)
    labels = [text_of(t) for t in by_class(root, "marker-label")]
    assert sorted(labels) == sorted(m.label for m in markers)
    by_date = sorted(found, key=lambda m: m.get("data-value") or "")
    xs = [marker_x(m) for m in by_date]
    assert xs == sorted(xs) and len(set(xs)) == len(xs)
    approximate = [m for m in found if m.get("data-approximate") == "true"]
    assert len(approximate) == 1 and approximate[0].get("fill") == "#ffffff"
    assert approximate[0].get("stroke-dasharray")
    legend = legend_labels(root)
    assert legend == [
        "known to be running",
        "start unknown",
        "end unknown",
        "milestone",
        "approximate date",
    ]


def test_markers_sit_on_the_row_of_their_span() -> None:
    root = parse(gantt("Timeline", SPANS, MARKERS))
    spans = {s.get("data-label"): s for s in by_class(root, "span")}
    for marker in by_class(root, "marker"):
        span = spans[marker.get("data-row")]
        ys = [float(p.split(",")[1]) for p in (marker.get("points") or "").split()]
        centre = (min(ys) + max(ys)) / 2
        top = float(span.get("y", "0"))
        assert top <= centre <= top + float(span.get("height", "0"))


def test_today_line_only_when_today_is_given() -> None:
    with_today = parse(gantt("Timeline", SPANS, MARKERS, today=TODAY))
    (line,) = by_class(with_today, "today")
    assert line.get("stroke-dasharray") and line.get("x1") == line.get("x2")
    assert "today" in visible_texts(with_today)
    years = {int(t.text or "0"): float(t.get("x", "0")) for t in by_class(with_today, "tick")}
    assert years[2026] < float(line.get("x1", "0")) < years[2027]
    without = parse(gantt("Timeline", SPANS, MARKERS))
    assert not by_class(without, "today") and "today" not in visible_texts(without)


def test_two_close_markers_on_one_row_get_different_label_heights() -> None:
    markers = [
        Marker("GeneH", date(2025, 3, 21), "kick-off meeting"),
        Marker("GeneH", date(2025, 4, 10), "first general assembly", approximate=True),
    ]
    root = parse(gantt("Timeline", SPANS, markers, today=TODAY))
    labels = by_class(root, "marker-label")
    assert len(labels) == 2
    assert labels[0].get("y") != labels[1].get("y")
    assert not overlaps(estimated_box(labels[0]), estimated_box(labels[1]))


def test_many_close_markers_never_overlap_each_other_or_the_rows() -> None:
    markers = [Marker("GeneT", date(2025, 1, 1 + 3 * i), f"milestone number {i}") for i in range(6)]
    markers += [Marker("JOIN4ATMP", date(2026, 12, 1), "end of the project, final review")]
    root = parse(gantt("Timeline", SPANS, markers))
    labels = by_class(root, "marker-label")
    boxes = [estimated_box(t) for t in labels]
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            assert not overlaps(a, b)
    width = float(root.get("width", "0"))
    assert all(box[0] >= 0 and box[2] <= width for box in boxes)
    spans = by_class(root, "span")
    for box in boxes:  # labels do not cover any bar
        for span in spans:
            x, y = float(span.get("x", "0")), float(span.get("y", "0"))
            bar = (x, y, x + float(span.get("width", "0")), y + float(span.get("height", "0")))
            assert not overlaps(box, bar)


def test_a_marker_without_a_span_gets_its_own_row_and_nothing_known_still_draws() -> None:
    root = parse(
        gantt(
            "T",
            [Span("A", date(2024, 1, 1), date(2025, 1, 1))],
            [Marker("B", date(2024, 6, 1), "x")],
        )
    )
    assert [t.text for t in by_class(root, "label")] == ["A", "B"]
    empty = parse(gantt("T", [Span("A", None, None)], today=TODAY))
    assert "dates unknown" in visible_texts(empty) and by_class(empty, "tick")


def test_a_short_timeline_still_has_year_ticks() -> None:
    root = parse(gantt("T", [Span("A", date(2025, 3, 1), date(2025, 6, 1))]))
    assert len(by_class(root, "tick")) >= 2


# --- HTML --------------------------------------------------------------------------------------


VOID = {"meta", "br", "hr", "img", "input", "link", "col", "area", "base", "source", "wbr"}


class Checker(HTMLParser):
    """Collects tags and fails on unbalanced or mismatched ones."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.decl: list[str] = []
        self.data: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"unexpected </{tag}> with {self.stack[-3:]}")
        else:
            self.stack.pop()

    def handle_decl(self, decl: str) -> None:
        self.decl.append(decl)

    def handle_data(self, data: str) -> None:
        self.data.append(data)


def check_html(page: str) -> Checker:
    checker = Checker()
    checker.feed(page)
    checker.close()
    assert not checker.errors and not checker.stack, (checker.errors, checker.stack)
    return checker


def test_html_table_escapes_and_formats_cells() -> None:
    table = html_table(
        ["name", "amount", "countries"],
        [
            {"name": "<b>A&B</b>", "amount": 1200, "countries": ["PT", "SI"]},
            {"name": "C", "amount": None, "countries": []},
            {"name": "D"},
        ],
        right={"amount"},
    )
    assert table.startswith("<table>") and table.rstrip().endswith("</table>")
    assert "&lt;b&gt;A&amp;B&lt;/b&gt;" in table and "<b>" not in table
    assert "<td>PT, SI</td>" in table
    assert '<th class="num">amount</th>' in table and '<td class="num">1200</td>' in table
    assert '<td class="num"></td>' in table
    checker = check_html(table)
    assert checker.tags.count("tr") == 4 and checker.tags.count("th") == 3
    assert checker.tags.count("td") == 9


def test_html_page_is_a_self_contained_document_with_the_parts() -> None:
    charts = all_charts()
    table = html_table(
        ["initiative", "amount"], [{"initiative": "GeneH", "amount": 4885375}], right={"amount"}
    )
    parts = [
        ("Funding", charts["bars"] + table),
        ("Timeline", charts["gantt"]),
        ("Partners", charts["heatmap"]),
    ]
    page = html_page("Landscape <report>", parts, note="Generated & checked")
    assert page.startswith("<!DOCTYPE html>")
    assert '<meta charset="utf-8">' in page and "<title>Landscape &lt;report&gt;</title>" in page
    assert "<h1>Landscape &lt;report&gt;</h1>" in page
    assert "<script" not in page.lower() and "<link" not in page.lower() and "@import" not in page
    assert "url(http" not in page and "src=" not in page
    assert "https://" not in page and "http://" not in page.replace(
        "http://www.w3.org/2000/svg", ""
    )
    checker = check_html(page)
    assert checker.tags.count("h2") == 3 and checker.tags.count("svg") == 3
    assert checker.tags.count("table") == 1 and "style" in checker.tags
    assert checker.decl == ["DOCTYPE html"]
    for heading in ("Funding", "Timeline", "Partners"):
        assert f"<h2>{heading}</h2>" in page
    for svg in charts["bars"], charts["gantt"], charts["heatmap"], table:
        assert svg.strip() in page
    assert '<p class="note">Generated &amp; checked</p>' in page
    assert page.index("Funding") < page.index("Timeline") < page.index("Partners")
    assert "sans-serif" in page and "nth-child(even)" in page and "@media print" in page


def test_html_page_without_note_or_parts() -> None:
    page = html_page("Empty", [])
    check_html(page)
    assert "<footer" not in page and "<h1>Empty</h1>" in page


def headings(page: str) -> list[tuple[str, str]]:
    return re.findall(r"<(h[12])>(.*?)</h[12]>", page)


def test_the_page_title_is_not_repeated_as_the_first_heading() -> None:
    svg = all_charts()["gantt"]
    page = html_page("Timeline", [("Timeline", svg), ("Sources", "<p>x</p>")])
    assert headings(page) == [("h1", "Timeline"), ("h2", "Sources")]
    assert page.index("<h1>") < page.index("<svg")
    check_html(page)
    # A title of its own keeps every section's heading; only the first may repeat it.
    page = html_page("Landscape", [("Timeline", svg), ("Landscape", "<p>x</p>")])
    assert headings(page) == [("h1", "Landscape"), ("h2", "Timeline"), ("h2", "Landscape")]


def test_a_report_page_names_its_first_section_once() -> None:
    sections = [
        Section("events", "Timeline", ["when"], [{"when": "2024"}], chart=REPORT_TIMELINE),
        Section("other", "Milestones by kind", ["kind"], [{"kind": "kick-off"}]),
    ]
    out = io.StringIO()
    write_sections(sections, "html", out)
    found = headings(out.getvalue())
    assert found == [("h1", "Timeline"), ("h2", "Milestones by kind")]


def print_rules(page: str) -> tuple[dict[str, str], str]:
    """The declarations of each selector inside `@media print`, and the whole style sheet."""
    css = page[page.index("<style>") + len("<style>") : page.index("</style>")]
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.S)
    start = css.index("{", css.index("@media print")) + 1
    depth, end = 1, start
    while depth:
        depth += {"{": 1, "}": -1}.get(css[end], 0)
        end += 1
    rules: dict[str, str] = {}
    for selectors, declarations in re.findall(r"([^{}]+)\{([^{}]*)\}", css[start : end - 1]):
        for selector in selectors.split(","):
            key = " ".join(selector.split())
            rules[key] = rules.get(key, "") + " ".join(declarations.split()) + " "
    return rules, css


def test_print_css_fits_tables_and_charts_on_any_paper() -> None:
    rules, css = print_rules(html_page("T", [("part", "<p>x</p>")]))
    assert "@page" in css and not re.search(r"@page\s*\{[^}]*size", css)  # A4 and Letter
    assert "width: 100%" in rules["table"]
    table_pt = float(re.findall(r"font-size: ([\d.]+)pt", rules["table"])[0])
    body_pt = float(re.findall(r"font-size: ([\d.]+)pt", rules["body"])[0])
    assert table_pt < body_pt <= 11  # smaller type on paper, smaller still in tables
    assert "overflow: visible" in rules[".scroll"]  # nothing cut off by a scroll box
    assert "max-width: 100%" in rules["svg"] and "height: auto" in rules["svg"]
    assert "overflow-wrap: anywhere" in rules["td"]  # long cells wrap
    assert "white-space: normal" in rules["th.num"]
    assert "break-inside: avoid" in rules["tr"] and "break-inside: avoid" in rules["svg"]
    assert "display: table-header-group" in rules["thead"]  # headers repeat on each page
    assert "break-after: avoid" in rules["h2"]


def test_column_names_may_wrap_at_underscores() -> None:
    table = html_table(["civil_society_share", "name"], [{"name": "x"}], right={"name"})
    assert "<th>civil_<wbr>society_<wbr>share</th>" in table
    checker = check_html(table)
    assert "".join(checker.data).count("civil_society_share") == 1


@pytest.mark.slow
@pytest.mark.parametrize("paper", ["A4", "Letter"])
def test_a_wide_table_prints_inside_the_page(tmp_path: Path, paper: str) -> None:
    """Printed by headless Chromium, every word of a wide table and its chart lies on the page."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    pdftotext = shutil.which("pdftotext")
    if browser is None or pdftotext is None:
        # `make test` installs both from Debian's packages where it can (root with apt); CI must.
        if os.environ.get("CI"):
            pytest.fail("chromium and pdftotext (poppler-utils) are missing in CI")
        pytest.skip(
            "needs chromium and pdftotext (poppler-utils); `make test` installs them as root"
        )
    columns = [f"column_number_{j}" for j in range(12)] + ["last"]
    rows = [
        {
            **{c: f"value-{i}-{j}" + "-wide" * (j % 4) for j, c in enumerate(columns)},
            "column_number_5": "averyveryverylongidentifierwithoutanyplacetobreakatall" * 2,
            "column_number_7": 1234567.5 * i,
            "last": f"LAST{i}",
        }
        for i in range(40)
    ]
    fragment = all_charts()["gantt"] + html_table(columns, rows, right={"column_number_7"})
    page = html_page("Wide", [("A wide table", fragment)])
    source = tmp_path / "page.html"
    source.write_text(page.replace("</style>", f"@page {{ size: {paper}; }}</style>"))
    pdf, words = tmp_path / "page.pdf", tmp_path / "words.html"
    subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-pdf-header-footer",
            f"--user-data-dir={tmp_path / 'profile'}",
            f"--print-to-pdf={pdf}",
            source.as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=180,
    )
    subprocess.run([pdftotext, "-bbox", str(pdf), str(words)], check=True, timeout=60)
    found = words.read_text(encoding="utf-8")
    pages = re.findall(r'<page width="([\d.]+)" height="([\d.]+)">(.*?)</page>', found, re.S)
    assert pages
    texts = []
    for width, _, content in pages:
        for x_max, text in re.findall(
            r'<word xMin="[\d.]+" yMin="[\d.]+" xMax="([\d.]+)"'
            r' yMax="[\d.]+">([^<]*)</word>',
            content,
        ):
            texts.append(text)
            assert float(x_max) <= float(width) - 20, (paper, text)  # inside the right margin
    assert {f"LAST{i}" for i in range(40)} <= set(texts)  # the last column is not cut off
    assert "Timeline" in texts  # the chart's title: the chart is printed, scaled to fit


def test_xml_declaration_of_a_fragment_is_not_put_into_the_page() -> None:
    svg = '<?xml version="1.0" encoding="UTF-8"?>\n' + bar_chart("T", [Bar("a", 1)])
    page = html_page("T", [("chart", svg)])
    assert "<?xml" not in page
    check_html(page)


FUNCTIONS: list[Callable[[], str]] = [
    lambda: bar_chart("T", [Bar("a", 0)]),
    lambda: stacked_bars("T", [], ["a"]),
    lambda: heatmap("T", [], [], []),
    lambda: heatmap("T", ["a"], ["b"], [[0]]),
    lambda: gantt("T", []),
]


@pytest.mark.parametrize("make", FUNCTIONS)
def test_degenerate_inputs_still_give_valid_documents(make: Callable[[], str]) -> None:
    root = parse(make())
    assert 480 <= float(root.get("width", "0")) <= 1100


def test_dates_unknown_text_does_not_cover_a_marker_on_its_row() -> None:
    spans = [Span("A", date(2022, 1, 1), date(2026, 1, 1)), Span("B", None, None)]
    root = parse(gantt("T", spans, [Marker("B", date(2022, 1, 10), "mandate", approximate=True)]))
    (text,) = by_class(root, "unknown")
    (marker,) = by_class(root, "marker")
    left, _, right, _ = estimated_box(text)
    assert not left - 7 <= marker_x(marker) <= right + 7


# --- Dates at the ends of the calendar -----------------------------------------------------------

LAST = date(9999, 12, 31)
NEAR_LAST = date(9998, 6, 1)
FIRST = date(1, 1, 1)

# (spans, markers, today) as a render.Chart holds them
EDGE_CASES: dict[
    str,
    tuple[
        list[tuple[str, date | None, date | None]],
        list[tuple[str, date, str, bool]],
        date | None,
    ],
] = {
    "end": (
        [
            ("A", NEAR_LAST, None),
            ("B", NEAR_LAST, LAST),
            ("C", None, LAST),
            ("D", LAST, LAST),
            ("E", LAST, None),
        ],
        [("B", LAST, "last day", False), ("A", NEAR_LAST, "about here", True)],
        LAST,
    ),
    "start": (
        [("A", None, FIRST), ("B", FIRST, date(1, 3, 1)), ("C", FIRST, None)],
        [("B", FIRST, "first day", False)],
        FIRST,
    ),
    "whole calendar": (
        [("A", FIRST, LAST), ("B", NEAR_LAST, None), ("C", None, FIRST)],
        [("A", NEAR_LAST, "m", False), ("elsewhere", LAST, "own row", True)],
        date(2026, 11, 21),
    ),
    "only a marker": ([], [("X", LAST, "x", False)], None),
    "only today": ([("A", None, None)], [], NEAR_LAST),
}


def edge_chart(name: str) -> results.Gantt:
    spans, markers, today = EDGE_CASES[name]
    return results.Gantt(
        f"Timeline: {name}",
        spans=[results.Span(*span) for span in spans],
        markers=[results.Marker(*marker) for marker in markers],
        today=today,
    )


@pytest.mark.parametrize("name", list(EDGE_CASES))
def test_gantt_draws_dates_at_both_ends_of_the_calendar(name: str) -> None:
    chart = edge_chart(name)
    root = parse(svg_chart(chart))
    width, height = float(root.get("width", "0")), float(root.get("height", "0"))
    drawn = by_class(root, "span")
    assert [s.get("data-label") for s in drawn] == [
        span.label for span in chart.spans if span.start or span.end
    ]
    for span in drawn + by_class(root, "span-open"):  # bars stay on the canvas
        x, w = float(span.get("x", "0")), float(span.get("width", "0"))
        assert x >= 0 and w >= 0 and x + w <= width - 10, span.get("data-label")
    assert sorted(m.get("data-value") or "" for m in by_class(root, "marker")) == sorted(
        marker.day.isoformat() for marker in chart.markers
    )
    years = [int(t.text or "0") for t in by_class(root, "tick")]
    assert len(years) >= 2 and years == sorted(years) and 1 <= years[0] <= years[-1] <= 9999
    assert len(by_class(root, "today")) == (chart.today is not None)
    for element in root.iter(f"{NS}text"):
        x, y = float(element.get("x", "0")), float(element.get("y", "0"))
        assert 0 <= x <= width and 0 < y <= height, element.text


@pytest.mark.parametrize("name", list(EDGE_CASES))
def test_a_page_with_a_timeline_at_the_ends_of_the_calendar_is_well_formed(name: str) -> None:
    chart = edge_chart(name)
    section = Section("timeline", "Timeline", ["when"], [{"when": "9999-12-31"}], chart=chart)
    out = io.StringIO()
    write_sections([section], "html", out)
    page = out.getvalue()
    check_html(page)
    # The page is HTML5, not XML; the chart inside it is an SVG document of its own.
    svg = page[page.index("<svg") : page.index("</svg>") + len("</svg>")]
    assert by_class(parse(svg), "title")[0].text == chart.title
    direct = html_page("Timeline", [("Timeline", svg_chart(chart))])
    check_html(direct)
    assert svg_chart(chart).strip() in direct


def test_a_timeline_over_millennia_has_grid_lines_at_the_labelled_years_only() -> None:
    root = parse(svg_chart(edge_chart("whole calendar")))
    ticks = by_class(root, "tick")
    assert [t.text for t in ticks] == [str(y) for y in range(1000, 10000, 1000)]
    grid = [e for e in root.iter(f"{NS}line") if e.get("stroke") == "#e2e2e2"]
    assert sorted(float(g.get("x1", "0")) for g in grid) == [float(t.get("x", "0")) for t in ticks]
