"""What queries and reports produce, and renderers draw: tables (sections) and their charts.

A neutral module: reports build these without importing the renderer, and the renderer draws
them without knowing any report.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

Row = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Bar:
    label: str
    value: float | None  # None when unknown: drawn as a labelled gap, never as zero
    text: str  # the value as people read it (`≈ 5,000,000 EUR`)
    estimated: bool = False  # approximate or spread: drawn hatched


@dataclass(slots=True)
class BarChart:
    title: str
    bars: list[Bar]
    unit: str = ""


@dataclass(frozen=True, slots=True)
class Values:
    """One row of a stacked chart or a heatmap: a label and one number per series."""

    label: str
    values: list[float]


@dataclass(slots=True)
class StackedChart:
    title: str
    series: list[str]
    rows: list[Values]
    percent: bool = False


@dataclass(slots=True)
class Heatmap:
    title: str
    series: list[str]  # the columns
    rows: list[Values]


@dataclass(frozen=True, slots=True)
class Span:
    """A row of a Gantt chart: from start to end, either unknown (None).

    An unknown bound is drawn as unknown, open to the chart's edge, and what is known bounds
    it: an initiative that held its kick-off in March 2025 had started by then (`started_by`),
    and one that met in 2024 was still running then (`running_on`).
    """

    label: str
    start: date | None
    end: date | None
    started_by: date | None = None  # when start is unknown: its first dated milestone
    running_on: date | None = None  # when end is unknown: its last dated milestone


@dataclass(frozen=True, slots=True)
class Marker:
    """A dated event on the Gantt row named `row`."""

    row: str
    day: date
    label: str
    approximate: bool = False


@dataclass(slots=True)
class Gantt:
    title: str
    spans: list[Span]
    markers: list[Marker] = field(default_factory=list)
    today: date | None = None


# A picture of a section: drawn with Rich on a terminal, as SVG, or inside an HTML page.
Chart = BarChart | StackedChart | Heatmap | Gantt


@dataclass(slots=True)
class Section:
    """One table of output: a name for `--section`, a title for people, columns and rows."""

    name: str
    title: str
    columns: list[str]
    rows: Sequence[Row]
    # How a column reads in a table for people (e.g. `≈ 5,000,000`); machine formats ignore it.
    human: Mapping[str, Callable[[Row], str]] = field(default_factory=dict)
    right: set[str] = field(default_factory=set)
    footer: list[str] = field(default_factory=list)
    # The narrower set of columns a table for people shows; machine formats get all columns.
    table_columns: list[str] | None = None
    chart: Chart | None = None
