"""What queries and reports produce, and renderers draw: tables (sections) and their charts.

A neutral module: reports build these without importing the renderer, and the renderer draws
them without knowing any report.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
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
    note: str = ""  # said under the title: what the chart leaves out (see `capped`)


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
    note: str = ""


@dataclass(slots=True)
class Heatmap:
    title: str
    series: list[str]  # the columns
    rows: list[Values]
    note: str = ""


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
    note: str = ""


# A picture of a section: drawn with Rich on a terminal, as SVG, or inside an HTML page.
Chart = BarChart | StackedChart | Heatmap | Gantt


# A chart draws at most this many bars or rows: beyond it, nobody reads them. The largest are
# drawn, and the rest together as one "others" bar (see `capped`).
MOST_BARS = 30


def capped(chart: Chart, most: int = MOST_BARS) -> Chart:
    """The chart as drawn: at most `most` bars or rows, the largest, then one "others" bar for
    the rest, with a note that says so. A timeline keeps its first rows (it is in date order)
    and says how many more there are; a heatmap keeps its first rows and columns."""
    match chart:
        case BarChart() if len(chart.bars) > most:
            keep = most - 1
            ranked = sorted(chart.bars, key=lambda b: -(b.value or 0.0))  # stable: ties keep order
            rest = ranked[keep:]
            known = [b.value for b in rest if b.value is not None]
            total = sum(known) if known else None
            others = Bar(
                f"others ({len(rest):,} more)",
                total,
                f"{total:,.0f}" if total is not None else "unknown",
                any(b.estimated for b in rest) or len(known) < len(rest),
            )
            note = (
                f"the {keep} largest of {len(chart.bars):,} bars; "
                f"the other {len(rest):,} together as 'others'"
            )
            return replace(chart, bars=[*ranked[:keep], others], note=_joined(chart.note, note))
        case StackedChart() if len(chart.rows) > most:
            kept = most - 1
            largest = sorted(chart.rows, key=lambda r: -sum(r.values))
            others_rows = largest[kept:]
            summed = [
                sum((r.values[i] for r in others_rows), 0.0) for i in range(len(chart.series))
            ]
            note = (
                f"the {kept} largest of {len(chart.rows):,} rows; "
                f"the other {len(others_rows):,} together as 'others'"
            )
            return replace(
                chart,
                rows=[
                    *largest[:kept],
                    Values(f"others ({len(others_rows):,} more)", summed),
                ],
                note=_joined(chart.note, note),
            )
        case Heatmap() if len(chart.rows) > most or len(chart.series) > most:
            note = f"the first {min(most, len(chart.rows))} of {len(chart.rows):,} rows"
            if len(chart.series) > most:
                note += f" and {most} of {len(chart.series):,} columns"
            return replace(
                chart,
                series=chart.series[:most],
                rows=[Values(r.label, r.values[:most]) for r in chart.rows[:most]],
                note=_joined(chart.note, note),
            )
        case Gantt() if len(chart.spans) > most:
            drawn = chart.spans[:most]
            labels = {s.label for s in drawn}
            note = (
                f"the first {most} of {len(chart.spans):,} rows in date order; "
                f"{len(chart.spans) - most:,} more not drawn"
            )
            return replace(
                chart,
                spans=drawn,
                markers=[m for m in chart.markers if m.row in labels],
                note=_joined(chart.note, note),
            )
    return chart


def _joined(*notes: str) -> str:
    return "; ".join(n for n in notes if n)


@dataclass(slots=True)
class Section:
    """One table of output: a name for `--section`, a title for people, columns and rows.

    Rows may be a one-shot iterator that reads the store as it is written (long tables stream);
    `later`, when given, fills in rows, columns and footer only if the section is shown, and
    `draw` the chart only if the format shows charts (`ready`).
    """

    name: str
    title: str
    columns: list[str]
    rows: Iterable[Row]
    # How a column reads in a table for people (e.g. `≈ 5,000,000`); machine formats ignore it.
    human: Mapping[str, Callable[[Row], str]] = field(default_factory=dict)
    right: set[str] = field(default_factory=set)
    footer: list[str] = field(default_factory=list)
    # The narrower set of columns a table for people shows; machine formats get all columns.
    table_columns: list[str] | None = None
    chart: Chart | None = None
    later: Callable[[Section], None] | None = None
    # The chart, drawn only for a format that shows it (`ready(charts=True)`).
    draw: Callable[[], Chart | None] | None = None

    @property
    def charted(self) -> bool:
        """Whether the section has a chart, drawn or still to draw."""
        return self.chart is not None or self.draw is not None

    def ready(self, *, charts: bool = True) -> Section:
        """The section with its rows, chart and footer filled in, if they were left for later;
        with charts=False its chart is not drawn."""
        if self.later is not None:
            fill, self.later = self.later, None
            fill(self)
        if charts and self.draw is not None:
            draw, self.draw = self.draw, None
            self.chart = draw()
        return self
