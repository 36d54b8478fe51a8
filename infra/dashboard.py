"""`make dashboard`: the deployed CloudWatch dashboard, rendered into one HTML file.

Reads the dashboard the stack deployed (GetDashboard; its name is in `.local/outputs.json`),
fetches each metric widget's series over the last hours (GetMetricData, one call per widget)
and writes a self-contained page (inline SVG, no scripts) a person can open; prints its path.
Works against the local cloud (`make run`) or any endpoint the outputs name.

Metric rows are read as CloudWatch reads them: `[namespace, name, dim, value, ..., {options}]`,
`"."` repeating the row above, options `id`, `label`, `visible`, `stat`, `period`; expression
rows `[{"expression": ...}]` are evaluated here for sums of ids and `FILL(id, n)` (the
dashboard's only kind; others are listed as not rendered).

Usage: `python -m infra.dashboard [--hours 3] [--out .local/dashboard.html]`.
"""

from __future__ import annotations

import argparse
import html
import json
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from botocore.exceptions import EndpointConnectionError

from infra.localcloud import deploy

DEFAULT_OUT = deploy.OUTPUTS_DIR / "dashboard.html"
SHOWN_IN = ZoneInfo("Asia/Shanghai")
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf")
_TERM = re.compile(r"^(?:FILL\(\s*([a-z]\w*)\s*,\s*(-?[\d.]+)\s*\)|([a-z]\w*))$")


@dataclass(frozen=True)
class Row:
    """One line of a metric widget: a metric (namespace, name, dimensions) or an expression."""

    id: str
    label: str | None
    visible: bool
    stat: str
    period: int
    namespace: str = ""
    name: str = ""
    dimensions: tuple[tuple[str, str], ...] = ()
    expression: str | None = None


@dataclass
class Series:
    """A line of a chart: its label and (time, value) points, oldest first."""

    label: str
    points: list[tuple[datetime, float]] = field(default_factory=list)

    @property
    def total(self) -> float:
        return sum(v for _, v in self.points)

    @property
    def peak(self) -> float | None:
        return max((v for _, v in self.points), default=None)


@dataclass
class Panel:
    """A rendered widget: title, series and anything that could not be shown."""

    title: str
    series: list[Series]
    width: int = 12
    notes: list[str] = field(default_factory=list)


def parse_rows(properties: dict[str, Any]) -> list[Row]:
    """The rows of a metric widget, with the widget's stat and period as defaults."""
    stat, period = properties.get("stat", "Average"), int(properties.get("period", 300))
    rows: list[Row] = []
    previous: list[str] = []
    for index, raw in enumerate(properties.get("metrics", [])):
        has_options = bool(raw) and isinstance(raw[-1], dict)
        options = raw[-1] if has_options else {}
        parts = [str(p) for p in (raw[:-1] if has_options else raw)]
        common = {"id": options.get("id", f"q{index}"), "label": options.get("label"),
                  "visible": options.get("visible", True), "stat": options.get("stat", stat),
                  "period": int(options.get("period", period))}
        if "expression" in options:
            rows.append(Row(**common, expression=options["expression"]))
            continue
        parts = [previous[i] if p == "." and i < len(previous) else p
                 for i, p in enumerate(parts)]
        previous = parts
        namespace, name, *dims = parts
        rows.append(Row(**common, namespace=namespace, name=name,
                        dimensions=tuple(zip(dims[::2], dims[1::2], strict=False))))
    return rows


def default_label(row: Row, rows: Sequence[Row]) -> str:
    """Like CloudWatch: the metric's name, or its dimension values where names repeat."""
    if row.label:
        return row.label
    if row.expression is not None:
        return row.id
    if sum(r.name == row.name for r in rows) > 1 and row.dimensions:
        return " ".join(value for _, value in row.dimensions)
    return row.name


def fetch(cloudwatch: Any, rows: Sequence[Row], start: datetime,
          end: datetime) -> dict[str, dict[datetime, float]]:
    """Every metric row's points by id (one GetMetricData call)."""
    queries = [{"Id": row.id, "ReturnData": True, "MetricStat": {
        "Metric": {"Namespace": row.namespace, "MetricName": row.name,
                   "Dimensions": [{"Name": n, "Value": v} for n, v in row.dimensions]},
        "Period": row.period, "Stat": row.stat}} for row in rows if row.expression is None]
    if not queries:
        return {}
    answer = cloudwatch.get_metric_data(MetricDataQueries=queries, StartTime=start,
                                        EndTime=end, ScanBy="TimestampAscending")
    return {result["Id"]: {t.astimezone(UTC): float(v)
                           for t, v in zip(result["Timestamps"], result["Values"],
                                           strict=True)}
            for result in answer["MetricDataResults"]}


def evaluate(expression: str, results: dict[str, dict[datetime, float]]) -> dict[datetime, float]:
    """A sum of ids and `FILL(id, n)` terms, per timestamp; ValueError for anything else.

    A bare id leaves out the timestamps it has no value at (as metric math does); FILL gives
    those its value instead.
    """
    terms = []
    for text in expression.split("+"):
        match = _TERM.match(text.strip())
        if not match:
            raise ValueError(f"not rendered locally: {expression}")
        ident = match.group(1) or match.group(3)
        terms.append((results.get(ident, {}), float(match.group(2)) if match.group(1) else None))
    stamps = sorted({t for points, _ in terms for t in points})
    summed: dict[datetime, float] = {}
    for stamp in stamps:
        values = [points.get(stamp, fill) for points, fill in terms]
        if all(v is not None for v in values):
            summed[stamp] = sum(v for v in values if v is not None)
    return summed


def panel_of(cloudwatch: Any, widget: dict[str, Any], start: datetime, end: datetime) -> Panel:
    """One widget's series over [start, end)."""
    properties = widget.get("properties", {})
    title = properties.get("title") or "(untitled)"
    width = int(widget.get("width", 12))
    if widget.get("type") != "metric":
        return Panel(title, [], width, [f"a {widget.get('type')} widget is not rendered"])
    rows = parse_rows(properties)
    results = fetch(cloudwatch, rows, start, end)
    panel = Panel(title, [], width)
    for row in rows:
        if not row.visible:
            continue
        try:
            points = (evaluate(row.expression, results) if row.expression is not None
                      else results.get(row.id, {}))
        except ValueError as error:
            panel.notes.append(str(error))
            continue
        panel.series.append(Series(default_label(row, rows), sorted(points.items())))
    return panel


def number(value: float | None) -> str:
    """A value as a person reads it: whole numbers without decimals, none as a dash."""
    if value is None:
        return "—"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


def svg_chart(series: Sequence[Series], start: datetime, end: datetime,
              width: int = 560, height: int = 170) -> str:
    """An inline SVG line chart of the series over [start, end]."""
    left, bottom, top, right = 44, 20, 8, 8
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max((s.peak or 0 for s in series), default=0) or 1
    span = (end - start).total_seconds() or 1

    def x(moment: datetime) -> float:
        return left + (moment - start).total_seconds() / span * plot_w

    def y(value: float) -> float:
        return top + plot_h - value / peak * plot_h

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
             f'role="img" class="chart">',
             f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" class="plot"/>']
    for fraction in (0, 0.5, 1):
        level = peak * fraction
        parts.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{y(level):.1f}" '
                     f'y2="{y(level):.1f}" class="grid"/><text x="{left - 4}" '
                     f'y="{y(level) + 4:.1f}" class="axis" text-anchor="end">'
                     f'{number(level)}</text>')
    for moment, anchor in ((start, "start"), (end, "end")):
        parts.append(f'<text x="{x(moment):.1f}" y="{height - 4}" class="axis" '
                     f'text-anchor="{anchor}">{moment.astimezone(SHOWN_IN):%m-%d %H:%M}</text>')
    for index, line in enumerate(series):
        colour = COLOURS[index % len(COLOURS)]
        coordinates = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in line.points)
        if len(line.points) > 1:
            parts.append(f'<polyline points="{coordinates}" fill="none" stroke="{colour}" '
                         f'stroke-width="1.5"/>')
        parts.extend(f'<circle cx="{x(t):.1f}" cy="{y(v):.1f}" r="2.5" fill="{colour}">'
                     f'<title>{html.escape(line.label)}: {number(v)}</title></circle>'
                     for t, v in line.points)
    parts.append("</svg>")
    return "".join(parts)


def panel_html(panel: Panel, start: datetime, end: datetime) -> str:
    """A widget as a figure: its chart and a legend with each line's total, last and peak."""
    legend = "".join(
        f'<tr><td><span class="swatch" style="background:{COLOURS[i % len(COLOURS)]}">'
        f'</span>{html.escape(s.label)}</td><td class="n">{number(s.total if s.points else None)}'
        f'</td><td class="n">{number(s.points[-1][1] if s.points else None)}</td>'
        f'<td class="n">{number(s.peak)}</td></tr>'
        for i, s in enumerate(panel.series))
    has_data = any(s.points for s in panel.series)
    chart = svg_chart(panel.series, start, end) if has_data else \
        '<p class="empty">No data in this period.</p>'
    notes = "".join(f'<p class="note">{html.escape(n)}</p>' for n in panel.notes)
    span = max(1, min(24, panel.width))
    return (f'<section style="grid-column: span {span}"><h2>{html.escape(panel.title)}</h2>'
            f'{chart}<table><thead><tr><th>metric</th><th>total</th><th>last</th>'
            f'<th>peak</th></tr></thead><tbody>{legend}</tbody></table>{notes}</section>')


STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;background:#f6f7f9}
h1{font-size:20px;margin:0 0 4px}.meta{color:#666;margin:0 0 16px}
main{display:grid;grid-template-columns:repeat(24,1fr);gap:16px}
section{background:#fff;border:1px solid #dde;border-radius:6px;padding:12px;min-width:0}
h2{font-size:15px;margin:0 0 8px}.chart{width:100%;height:auto}
.plot{fill:#fbfbfd;stroke:#ccd}.grid{stroke:#e4e4ec}.axis{font-size:10px;fill:#666}
table{border-collapse:collapse;width:100%;margin-top:6px;font-size:12px}
th,td{padding:2px 6px;border-bottom:1px solid #eee;text-align:left}
td.n,th:not(:first-child){text-align:right}
.swatch{display:inline-block;width:10px;height:10px;margin-right:6px;border-radius:2px}
.empty,.note{color:#888;font-style:italic}
@media (max-width:900px){section{grid-column:span 24!important}}
"""


def render_html(name: str, panels: Iterable[Panel], start: datetime, end: datetime) -> str:
    """The whole page."""
    shown = f"{start.astimezone(SHOWN_IN):%Y-%m-%d %H:%M} to {end.astimezone(SHOWN_IN):%H:%M}"
    body = "".join(panel_html(p, start, end) for p in panels)
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f'<title>{html.escape(name)}</title><style>{STYLE}</style></head><body>'
            f'<h1>Dashboard {html.escape(name)}</h1><p class="meta">{shown} (Asia/Shanghai); '
            f'totals are sums over the period</p><main>{body}</main></body></html>\n')


def render(cloudwatch: Any, name: str, start: datetime, end: datetime) -> str:
    """Read the dashboard `name` and render its widgets over [start, end)."""
    body = json.loads(cloudwatch.get_dashboard(DashboardName=name)["DashboardBody"])
    widgets = sorted(body.get("widgets", []), key=lambda w: (w.get("y", 0), w.get("x", 0)))
    return render_html(name, [panel_of(cloudwatch, w, start, end) for w in widgets],
                       start, end)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.dashboard", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hours", type=float, default=3, help="how far back (default 3)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--outputs-dir", type=Path, default=deploy.OUTPUTS_DIR,
                        help="where `make run` wrote the stack outputs")
    args = parser.parse_args(argv)
    try:
        outputs = deploy.read_outputs(args.outputs_dir)
    except FileNotFoundError:
        print(f"error: no {args.outputs_dir / 'outputs.json'}; start the cloud with `make run`",
              file=sys.stderr)
        return 2
    if "DashboardName" not in outputs:
        print("error: the deployed stack has no DashboardName output; redeploy (make run)",
              file=sys.stderr)
        return 2
    cloudwatch = deploy.client("cloudwatch", outputs["Endpoint"])
    end = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=1)
    try:
        page = render(cloudwatch, outputs["DashboardName"], end - timedelta(hours=args.hours),
                      end)
    except EndpointConnectionError:
        print(f"error: nothing answers at {outputs['Endpoint']}; is `make run` going?",
              file=sys.stderr)
        return 2
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(page, encoding="utf-8")
    print(args.out.resolve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
