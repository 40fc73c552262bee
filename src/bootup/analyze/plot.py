"""``analyze plot``: the startup as an SVG timeline, or an HTML page with hover details.

Laid out like systemd-analyze 252's plot (src/analyze/analyze-plot.c): 100 pixels per
second, one 20-pixel row per unit in the order units began activating, each row a bar in
three phases (activating in red, active in pale red, deactivating in brown), the unit's
name and start duration beside its bar, grey gridlines every 100 ms with darker ones and
labels every second (thicker every 5 s), the ``analyze time`` summary on top and a
legend below. Units that began activating after the startup finished are left out, and
every bar is clipped to the end of the startup, as systemd does.

Each unit's row is a ``<g class="unit" data-unit="NAME">`` holding a ``<title>`` tooltip
(its timestamps and After= units), so browsers show details on hover and tests can count
bars. The SVG is built with :mod:`xml.etree.ElementTree`, so names are always escaped.
``render_plot_html`` wraps the same SVG in a self-contained page (inline CSS and a little
JavaScript for a details panel; nothing is fetched from the network).
"""

from __future__ import annotations

import html
import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from bootup.analyze.timing import (
    USEC_PER_MSEC,
    USEC_PER_SEC,
    StartupTiming,
    UnitTiming,
    format_timespan,
    render_time,
    usec,
)

__all__ = ("PlotRow", "plot_rows", "render_plot_html", "render_plot_svg")

SVG_NS = "http://www.w3.org/2000/svg"
PX_PER_USEC = 100.0 / USEC_PER_SEC  # 100 pixels per second, as systemd's default
ROW = 20.0
_GRID_USEC = 100 * USEC_PER_MSEC

_STYLE = """
rect { stroke-width: 1; stroke-opacity: 0; }
rect.background { fill: rgb(255,255,255); }
rect.activating { fill: rgb(255,0,0); fill-opacity: 0.7; }
rect.active { fill: rgb(200,150,150); fill-opacity: 0.7; }
rect.deactivating { fill: rgb(150,100,100); fill-opacity: 0.7; }
rect.manager { fill: rgb(150,150,150); fill-opacity: 0.7; }
rect.box { fill: rgb(240,240,240); stroke: rgb(192,192,192); }
line { stroke: rgb(64,64,64); stroke-width: 1; }
line.sec5 { stroke-width: 2; }
line.sec01 { stroke: rgb(224,224,224); stroke-width: 1; }
text { font-family: Verdana, Helvetica, sans-serif; font-size: 14px; }
text.left { text-anchor: start; }
text.right { text-anchor: end; }
text.sec { font-size: 10px; }
"""


@dataclass(frozen=True, slots=True)
class PlotRow:
    """One unit's bar, in µs from the origin, clipped to the end of the startup."""

    unit: UnitTiming
    activating: int
    activated: int
    deactivating: int
    deactivated: int


def _clip(unit: UnitTiming, finish: int) -> PlotRow:
    """Systemd's limit_times_to_boot(): phases that had not ended by ``finish`` end there."""
    activating, activated = usec(unit.activating), usec(unit.activated)
    deactivating, deactivated = usec(unit.deactivating), usec(unit.deactivated)
    if activating < deactivated <= finish and activated == 0 and deactivating == 0:
        # Went down without ever being active (a oneshot): all activating.
        activated = deactivating = deactivated
    if activated < activating or activated > finish:
        activated = finish
    if deactivating < activated or deactivating > finish:
        deactivating = finish
    if deactivated < deactivating or deactivated > finish:
        deactivated = finish
    return PlotRow(unit, activating, activated, deactivating, deactivated)


def plot_rows(data: StartupTiming) -> list[PlotRow]:
    """The bars the plot draws, in the order units began activating."""
    finish = data.finish_usec(require_finished=True)
    units = [u for u in data.started_units if usec(u.activating) <= finish]
    units.sort(key=lambda u: usec(u.activating))
    return [_clip(u, finish) for u in units]


def _fmt(value: float) -> str:
    return f"{value:.3f}"


def _seconds(value_usec: int) -> str:
    whole, rest = divmod(value_usec, USEC_PER_SEC)
    return f"{whole}.{rest // USEC_PER_MSEC:03d}s"


def _tooltip(row: PlotRow) -> str:
    unit = row.unit
    lines = [
        f"{unit.name}:",
        f"Activating: {_seconds(usec(unit.activating))}",
        f"Activated: {_seconds(usec(unit.activated))}",
    ]
    if unit.duration_usec:
        lines.append(f"Took: {format_timespan(unit.duration_usec)}")
    if unit.after:
        lines += ["", "After:", *(f"  {name}" for name in unit.after)]
    return "\n".join(lines)


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(
        parent, tag, {k.rstrip("_").replace("_", "-"): v for k, v in attrs.items()}
    )
    if text is not None:
        element.text = text
    return element


def _bar(parent: ET.Element, css: str, start: int, end: int, y: float) -> None:
    _sub(
        parent,
        "rect",
        class_=css,
        x=_fmt(PX_PER_USEC * start),
        y=_fmt(ROW * y),
        width=_fmt(PX_PER_USEC * (end - start)),
        height=_fmt(ROW - 1.0),
    )


def _label(parent: ET.Element, left: bool, at: int, y: float, text: str) -> None:
    _sub(
        parent,
        "text",
        text,
        class_="left" if left else "right",
        x=_fmt(PX_PER_USEC * at + (5.0 if left else -5.0)),
        y=_fmt(ROW * y + 14.0),
    )


def _grid(parent: ET.Element, rows: int, end: int) -> None:
    height = _fmt(ROW * rows)
    _sub(parent, "rect", class_="box", x="0", y="0", width=_fmt(PX_PER_USEC * end), height=height)
    for tick in range(0, end + 1, _GRID_USEC):
        x = _fmt(PX_PER_USEC * tick)
        css = "sec5" if tick % (5 * USEC_PER_SEC) == 0 else "sec1"
        if tick % USEC_PER_SEC:
            css = "sec01"
        _sub(parent, "line", class_=css, x1=x, y1="0", x2=x, y2=height)
        if css != "sec01":
            _sub(parent, "text", f"{tick / USEC_PER_SEC:.1f}s", class_="sec", x=x, y="-5.000")


def _build_svg(data: StartupTiming) -> ET.Element:
    rows = plot_rows(data)
    finish = data.finish_usec(require_finished=True)
    userspace = usec(data.boot.userspace)
    width = max(800.0, PX_PER_USEC * finish)
    for row in rows:
        # Names that do not fit left of their bar go right of it: widen to fit them.
        text_width = 8.0 * len(row.unit.name)
        start = PX_PER_USEC * row.activating
        if text_width > start and text_width + start > width:
            width = text_width + start
    count = len(rows) + 1  # the manager's own row first
    legend = (("activating", "Activating"), ("active", "Active"), ("deactivating", "Deactivating"))
    svg = ET.Element(
        "svg",
        {
            "xmlns": SVG_NS,
            "version": "1.1",
            "width": f"{80.0 + width:.0f}px",
            "height": f"{150.0 + ROW * (count + len(legend) + 1):.0f}px",
            "class": "bootup-plot",
        },
    )
    _sub(svg, "style", _STYLE, type="text/css")
    _sub(svg, "rect", class_="background", width="100%", height="100%")
    summary = render_time(data).rstrip("\n").split("\n")
    for index, line in enumerate(summary):
        _sub(svg, "text", line.rstrip(), x="20", y=str(30 + 20 * index), class_="summary")
    chart = _sub(svg, "g", transform="translate(20.000,100)", class_="chart")
    _grid(chart, count, finish)
    manager = _sub(chart, "g", class_="manager", data_unit=data.manager_name)
    _sub(manager, "title", f"{data.manager_name}: the service manager")
    _bar(manager, "manager", userspace, finish, 0)
    _label(manager, True, userspace, 0, data.manager_name)
    for y, row in enumerate(rows, start=1):
        group = _sub(chart, "g", class_="unit", data_unit=row.unit.name)
        _sub(group, "title", _tooltip(row))
        _bar(group, "activating", row.activating, row.activated, y)
        _bar(group, "active", row.activated, row.deactivating, y)
        _bar(group, "deactivating", row.deactivating, row.deactivated, y)
        left = (row.activating - userspace) * PX_PER_USEC < width / 2
        took = row.unit.duration_usec
        name = f"{row.unit.name} ({format_timespan(took)})" if took else row.unit.name
        _label(group, left, row.activating, y, name)
    key = _sub(svg, "g", transform="translate(20,100)", class_="legend")
    for index, (css, text) in enumerate(legend):
        y = count + 1 + index
        _sub(
            key,
            "rect",
            class_=css,
            x="0.000",
            y=_fmt(ROW * y),
            width="30.000",
            height=_fmt(ROW - 1),
        )
        _sub(key, "text", text, class_="left", x="45.000", y=_fmt(ROW * y + 14.0))
    return svg


def render_plot_svg(data: StartupTiming) -> str:
    """A standalone SVG document of the startup (needs a finished startup)."""
    body = ET.tostring(_build_svg(data), encoding="unicode")
    return (
        '<?xml version="1.0" standalone="no"?>\n'
        "<!-- This file is a bootup analyze plot: open it in a browser. -->\n" + body + "\n"
    )


_HTML_CSS = """
body { font-family: Verdana, Helvetica, sans-serif; margin: 0; background: #fff; }
#details { position: fixed; top: 8px; right: 8px; max-width: 40em; white-space: pre;
  background: #ffffe0; border: 1px solid #999; padding: 6px; font-size: 12px;
  display: none; }
g.unit:hover rect, g.unit.selected rect { stroke: #000; stroke-opacity: 1; }
g.unit:hover text, g.unit.selected text { font-weight: bold; }
"""

_HTML_JS = """
(function () {
  var panel = document.getElementById("details");
  var units = document.querySelectorAll("g.unit");
  units.forEach(function (g) {
    var title = g.querySelector("title");
    var text = title ? title.textContent : g.getAttribute("data-unit");
    g.addEventListener("mouseenter", function () {
      panel.textContent = text;
      panel.style.display = "block";
    });
    g.addEventListener("mouseleave", function () { panel.style.display = "none"; });
    g.addEventListener("click", function () { g.classList.toggle("selected"); });
  });
  document.body.setAttribute("data-units", String(units.length));
})();
"""


def render_plot_html(data: StartupTiming) -> str:
    """The plot as one self-contained HTML page: inline SVG, CSS and JavaScript."""
    svg = ET.tostring(_build_svg(data), encoding="unicode")
    title = html.escape(f"{data.manager_name} startup: {data.resolve(data.default_unit)}")
    # Unit names cannot hold "<", but a "</script>" must never end the block early.
    payload = json.dumps([row.unit.name for row in plot_rows(data)]).replace("</", "<\\/")
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{title}</title>\n<style>{_HTML_CSS}</style>\n</head>\n<body>\n"
        f'<div id="details"></div>\n{svg}\n'
        f'<script type="application/json" id="units">{payload}</script>\n'
        f"<script>{_HTML_JS}</script>\n</body>\n</html>\n"
    )
