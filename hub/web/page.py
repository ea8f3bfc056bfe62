"""The operations page as one server-rendered HTML document: problems, a chart per flow, the
flows (with the DAG each runs in, linked to its runs), open dead letters with replay/discard
for users allowed to act, invalid partner profiles and cursors."""

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
form.act{display:inline-flex;gap:.3rem;margin:.1rem 0}.notice{background:#eef7ee;
border:1px solid #9c9;padding:.4rem .6rem}#problems li{color:#c0392b}
"""

# The flows table: (status key, the header a person reads). Nested values (the last run,
# the last success) are rendered by ``_flow_cell``, never flattened into dotted columns.
FLOW_COLUMNS: tuple[tuple[str, str], ...] = (
    ("flow", "Flow"),
    ("scope", "Partner / system"),
    ("dag", "Runs in DAG"),
    ("healthy", "Healthy"),
    ("last_run", "Last run (UTC)"),
    ("last_success", "Last success (UTC)"),
    ("lag_seconds", "Oldest waiting"),
    ("items_24h", "Items, 24 h"),
    ("journal_pending", "Pending writes"),
    ("dead_letters_open", "Open dead letters"),
    ("problems", "Problems"),
)
LETTER_COLUMNS: tuple[tuple[str, str], ...] = (
    ("id", "ID"),
    ("flow", "Flow"),
    ("partner", "Partner"),
    ("system", "System"),
    ("record", "Record"),
    ("error", "Error"),
    ("reason", "What happened, what to do"),
    ("attempts", "Tries"),
    ("since", "Since (UTC)"),
)


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return '<span class="good">ok</span>' if value else '<span class="bad">NO</span>'
    if value is None or value == "":
        return '<span class="muted">–</span>'
    if isinstance(value, datetime):
        return escape(value.isoformat(sep=" ", timespec="minutes")[:16])
    if isinstance(value, list | tuple):
        return escape("; ".join(str(v) for v in value)) or '<span class="muted">–</span>'
    if isinstance(value, Mapping):
        return escape(", ".join(f"{k}={v}" for k, v in value.items()))
    return escape(str(value))


def _when(text: str | None) -> str:
    """An ISO timestamp as ``YYYY-MM-DD HH:MM``."""
    return text[:16].replace("T", " ") if text else ""


def _age(seconds: float | None) -> str:
    if not seconds:
        return "0"
    if seconds < 120:
        return f"{int(seconds)} s"
    if seconds < 7200:
        return f"{int(seconds // 60)} min"
    return f"{seconds / 3600:.1f} h" if seconds < 172800 else f"{seconds / 86400:.1f} d"


def dag_of(flow: str) -> str | None:
    """The DAG that schedules ``flow`` (the flow registry says)."""
    from hub.flows.registry import REGISTRY

    desc = REGISTRY.get(flow)
    return desc.dag if desc is not None else None


def _flow_cell(key: str, row: Mapping[str, Any]) -> str:
    value = row.get(key)
    if key in ("last_run", "last_success"):
        if not isinstance(value, Mapping):
            return '<span class="muted">never</span>'
        when = escape(_when(value.get("finished_at") or value.get("started_at")))
        if key == "last_success":
            return when
        css = "bad" if value.get("status") in ("failed", "crashed") else ""
        return f'<span class="{css}">{escape(str(value.get("status")))}</span> {when}'
    if key == "dag":
        dag = dag_of(str(row.get("flow")))
        if not dag:
            return '<span class="muted">–</span>'
        return f'<a class="dag-link" href="/dags/{escape(dag)}/runs">{escape(dag)}</a>'
    if key == "lag_seconds":
        return escape(_age(value))
    return _cell(value)


def _table(css_id: str, head: Sequence[str], rows: Iterable[tuple[str, Sequence[str]]]) -> str:
    """An HTML table; each row is (attributes of <tr>, the cells' HTML)."""
    th = "".join(f"<th>{escape(h)}</th>" for h in head)
    body = "".join(f"<tr{attrs}>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"
                   for attrs, cells in rows)  # fmt: skip
    return f'<table id="{css_id}"><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>'


def flow_table(status: Mapping[str, Any]) -> str:
    """The flows of the status document with readable headers and a DAG link per flow."""
    rows = [r for r in status.get("flows") or [] if isinstance(r, Mapping)]
    if not rows:
        return '<p id="flows" class="muted">No flow has run yet.</p>'
    return _table(
        "flows",
        [title for _, title in FLOW_COLUMNS],
        (
            (f' data-flow="{escape(str(r.get("flow")))}"',
             [_flow_cell(key, r) for key, _ in FLOW_COLUMNS])
            for r in rows
        ),
    )  # fmt: skip


def _actions(letter: DeadLetter) -> str:
    """Replay and discard forms; the server checks the user's role and audits who did it."""
    replay = (
        f'<form class="act" method="post" action="dead-letters/{letter.id}/replay">'
        f'<button type="submit" name="replay" data-id="{letter.id}">Replay</button>'
        '<label title="you checked that the target holds nothing under this record">'
        '<input type="checkbox" name="confirm_absent" value="1"> target holds nothing</label>'
        "</form>"
    )
    discard = (
        f'<form class="act" method="post" action="dead-letters/{letter.id}/discard">'
        '<input name="reason" required placeholder="why (kept for audit)" size="18">'
        f'<button type="submit" name="discard" data-id="{letter.id}">Discard</button></form>'
    )
    return replay + discard


def letter_table(letters: Sequence[DeadLetter], *, can_act: bool) -> str:
    """Open dead letters; with ``can_act`` a replay and a discard form on each row."""
    if not letters:
        return '<p id="dead-letters" class="muted">No open dead letters.</p>'
    head = [title for _, title in LETTER_COLUMNS] + (["Action"] if can_act else [])

    def cells(d: DeadLetter) -> list[str]:
        reason = d.reason if len(d.reason) <= 300 else d.reason[:297] + "..."
        values = [d.id, d.flow, d.partner, d.system, d.record_key, d.error_class, reason,
                  d.attempts, d.created_at]  # fmt: skip
        out = [_cell(v) for v in values]
        return out + ([_actions(d)] if can_act else [])

    return _table("dead-letters", head, ((f' data-id="{d.id}"', cells(d)) for d in letters))


def _health(status: Mapping[str, Any]) -> str:
    healthy = status.get("healthy", status.get("ok"))
    if healthy is None:
        return ""
    css, word = ("good", "healthy") if healthy else ("bad", "unhealthy")
    problems = status.get("problems") or []
    items = "".join(f"<li>{escape(str(p))}</li>" for p in problems[:50])
    listed = f'<ul id="problems">{items}</ul>' if items else ""
    return f'<p id="health" class="{css}">Hub is {word}</p>{listed}'


def _profiles(status: Mapping[str, Any]) -> str:
    found = status.get("partner_profiles") or {}
    invalid = found.get("invalid") or []
    valid = ", ".join(escape(p) for p in found.get("valid") or []) or "none"
    rows = ((' class="bad"', [escape(i["file"]), escape(i["error"])]) for i in invalid)
    table = _table("invalid-profiles", ["Profile file", "Error (this partner is skipped)"], rows)
    return f"<p>Valid: {valid}</p>" + (table if invalid else "")


ACK_ROWS = 50  # documents shown on the page; `hub edi acks` lists them all


def ack_section(status: Mapping[str, Any], documents: Sequence[Mapping[str, Any]]) -> str:
    """Partners' acknowledgements of our documents: counts by state, then the documents
    that are not (yet) accepted, most urgent first (rejected, overdue, waiting)."""
    counts = status.get("acknowledgements") or {}
    if not counts and not documents:
        return '<p id="acks" class="muted">No outbound document expects an acknowledgement.</p>'
    summary = ", ".join(f"{escape(str(k))}: {escape(str(v))}" for k, v in sorted(counts.items()))
    order = {"rejected": 0, "overdue": 1}

    def urgency(d: Mapping[str, Any]) -> tuple[int, str]:
        return order.get(str(d.get("state")), 2), str(d.get("sent_at"))

    open_docs = sorted((d for d in documents if d.get("state") != "accepted"), key=urgency)
    rows = (
        (f' data-state="{escape(str(d.get("state")))}"',
         [_cell(d.get("partner")), _cell(f"{d.get('doc_type')} {d.get('document_number')}"),
          _cell(d.get("control_ref")),
          f'<span class="{"bad" if d.get("state") in ("rejected", "overdue") else ""}">'
          f"{escape(str(d.get('state')))}</span>",
          _cell(_when(d.get("sent_at"))), _cell(d.get("errors"))])
        for d in open_docs[:ACK_ROWS]
    )  # fmt: skip
    table = _table("acks", ["Partner", "Document", "Interchange", "State", "Sent (UTC)",
                            "Partner's errors"], rows)  # fmt: skip
    return f'<p id="ack-counts">{summary or "none"}</p>' + (table if open_docs else "")


def _cursor_rows(status: Mapping[str, Any]) -> list[tuple[str, list[str]]]:
    cursors = status.get("cursors") or []
    return [
        ("", [_cell(c.get("stream")), _cell(c.get("flow")), _cell(c.get("value")),
              _cell(_when(c.get("updated_at"))), escape(_age(c.get("age_seconds")))])
        for c in cursors
        if isinstance(c, Mapping)
    ]  # fmt: skip


def render_page(
    status: Mapping[str, Any],
    letters: Sequence[DeadLetter],
    series: Sequence[FlowSeries],
    *,
    generated_at: datetime,
    can_act: bool = False,
    notice: str | None = None,
    acks: Sequence[Mapping[str, Any]] = (),
) -> str:
    """The whole page: health and problems, a chart card per flow (people look at a chart
    first), the flows table, open dead letters (with actions for ``can_act``), partner
    profiles and cursors."""
    cards = "".join(
        f'<div class="chart-card" data-flow="{escape(s.flow)}"><h3>{escape(s.flow)}</h3>'
        f"{volume_chart(s.flow, s.done, s.failed)}{lag_chart(s.flow, s.lag_seconds)}</div>"
        for s in series
    )
    charts = cards or '<p class="muted">No flow yet.</p>'
    cursor_rows = _cursor_rows(status)
    cursors = (
        _table("cursors", ["Stream", "Flow", "Position", "Moved (UTC)", "Age"], cursor_rows)
        if cursor_rows
        else '<p id="cursors" class="muted">No cursors yet.</p>'
    )
    shown = f'<p id="notice" class="notice">{escape(notice)}</p>' if notice else ""
    who = "" if can_act else " (replay and discard need an Airflow role that may edit DAGs)"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>ERP sales hub: operations</title>
<meta http-equiv="refresh" content="60"><style>{STYLE}</style></head>
<body>
<h1>ERP sales hub</h1>
<p class="muted">Generated {escape(generated_at.isoformat(timespec="seconds"))} ·
<a href="health">health JSON</a> · <a href="metrics">Prometheus metrics</a> ·
<a href="/">Airflow</a></p>
{shown}{_health(status)}
<h2>Volume and backlog per flow, last 24 h</h2>
<div id="charts" class="charts">{charts}</div>
<h2>Flows</h2>
{flow_table(status)}
<h2>Open dead letters ({len(letters)}){escape(who)}</h2>
{letter_table(letters, can_act=can_act)}
<h2>Partner acknowledgements of our documents</h2>
{ack_section(status, acks)}
<h2>Partner profiles</h2>
{_profiles(status)}
<h2>Cursors</h2>
{cursors}
</body></html>
"""
