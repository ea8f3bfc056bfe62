"""The operations page as one server-rendered HTML document: flows, dead letters, charts."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from html import escape
from typing import Any

from hub.ledger import DeadLetter
from hub.web.charts import lag_chart, volume_chart
from hub.web.series import FlowSeries

STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5rem;color:#222;background:#fafafa}
h1{margin:0 0 .2rem}h2{margin-top:1.6rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;background:#fff;font-size:.9rem}
th,td{border:1px solid #ddd;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#f0f0f0}.bad{color:#c0392b;font-weight:600}.good{color:#2e8b57;font-weight:600}
.charts{display:flex;flex-wrap:wrap;gap:1rem}.chart-card{background:#fff;border:1px solid #ddd;
padding:.5rem}.chart-card h3{margin:.1rem 0 .4rem;font-size:.95rem}.muted{color:#777}
"""


# The flow columns a person reads first; when the status has them, only these are shown
# (the full document is one click away at health JSON).
FLOW_COLUMNS = (
    "flow",
    "scope",
    "healthy",
    "last_success",
    "lag_seconds",
    "items_24h",
    "journal_pending",
    "dead_letters_open",
    "problems",
)


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return '<span class="good">ok</span>' if value else '<span class="bad">NO</span>'
    if value is None:
        return '<span class="muted">–</span>'
    if isinstance(value, datetime):
        return escape(value.isoformat(timespec="seconds"))
    if isinstance(value, list | tuple):
        return escape(", ".join(str(v) for v in value))
    if isinstance(value, Mapping):
        return escape(", ".join(f"{k}={v}" for k, v in value.items()))
    return escape(str(value))


def _flatten(row: Mapping[str, Any]) -> dict[str, Any]:
    """One level of nested mappings becomes dotted columns (``counts_24h.done``)."""
    flat: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, Mapping) and all(not isinstance(v, Mapping) for v in value.values()):
            for sub, v in value.items():
                flat[f"{key}.{sub}"] = v
        else:
            flat[str(key)] = value
    return flat


def flow_rows(status: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The status document's flows as flat rows, whether a list of rows or a name -> row map."""
    flows = status.get("flows") or []
    if isinstance(flows, Mapping):
        rows = [
            {"flow": name, **(v if isinstance(v, Mapping) else {"value": v})}
            for name, v in flows.items()
        ]
    else:
        rows = [dict(r) for r in flows if isinstance(r, Mapping)]
    flat = [_flatten(r) for r in rows]
    known = [c for c in FLOW_COLUMNS if any(c in r for r in flat)]
    if "flow" in known and len(known) > 2:
        return [{c: r.get(c) for c in known} for r in flat]
    return flat


def table(rows: Sequence[Mapping[str, Any]], *, css_id: str, empty: str) -> str:
    """A plain HTML table over the union of the rows' keys (first-seen order)."""
    if not rows:
        return f'<p id="{css_id}" class="muted">{escape(empty)}</p>'
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{_cell(row.get(c))}</td>" for c in columns) + "</tr>" for row in rows
    )
    return f'<table id="{css_id}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _letter_rows(letters: Iterable[DeadLetter]) -> list[dict[str, Any]]:
    return [
        {
            "id": d.id,
            "flow": d.flow,
            "partner": d.partner,
            "system": d.system,
            "record": d.record_key,
            "error": d.error_class,
            "reason": d.reason if len(d.reason) <= 200 else d.reason[:197] + "...",
            "attempts": d.attempts,
            "since": d.created_at,
        }
        for d in letters
    ]


def _health(status: Mapping[str, Any]) -> str:
    healthy = status.get("healthy", status.get("ok"))
    if healthy is None:
        return ""
    css, word = ("good", "healthy") if healthy else ("bad", "unhealthy")
    return f'<p id="health" class="{css}">Hub is {word}</p>'


def render_page(
    status: Mapping[str, Any],
    letters: Sequence[DeadLetter],
    series: Sequence[FlowSeries],
    *,
    generated_at: datetime,
) -> str:
    """The whole page: health, per-flow charts (first: people look at a chart first), the
    flows table and the open dead letters."""
    cards = "".join(
        f'<div class="chart-card" data-flow="{escape(s.flow)}"><h3>{escape(s.flow)}</h3>'
        f"{volume_chart(s.flow, s.done, s.failed)}{lag_chart(s.flow, s.lag_seconds)}</div>"
        for s in series
    )
    charts = cards or '<p class="muted">No journal activity in the last 24 h.</p>'
    cursors = status.get("cursors")
    cursor_rows = (
        [
            {"stream": k, **_flatten(v)} if isinstance(v, Mapping) else {"stream": k, "value": v}
            for k, v in cursors.items()
        ]
        if isinstance(cursors, Mapping)
        else [_flatten(c) for c in cursors or [] if isinstance(c, Mapping)]
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>ERP sales hub: operations</title>
<meta http-equiv="refresh" content="60"><style>{STYLE}</style></head>
<body>
<h1>ERP sales hub</h1>
<p class="muted">Generated {escape(generated_at.isoformat(timespec="seconds"))} ·
<a href="health">health JSON</a> · <a href="metrics">Prometheus metrics</a> ·
<a href="/">Airflow</a></p>
{_health(status)}
<h2>Volume and lag, last 24 h</h2>
<div id="charts" class="charts">{charts}</div>
<h2>Flows</h2>
{table(flow_rows(status), css_id="flows", empty="No flow has run yet.")}
<h2>Open dead letters ({len(letters)})</h2>
{table(_letter_rows(letters), css_id="dead-letters", empty="No open dead letters.")}
<h2>Cursors</h2>
{table(cursor_rows, css_id="cursors", empty="No cursors yet.")}
</body></html>
"""
