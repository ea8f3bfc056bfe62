"""Prometheus metrics of the hub, computed from the ledger (`hub metrics`, /hub/metrics).

Every value is read from the ledger at scrape time, so any process (CLI, Airflow plugin,
a worker) renders the same numbers and nothing is lost when a worker restarts.

| metric | type | labels | meaning |
|---|---|---|---|
| `hub_up` | gauge | | 1 when the ledger could be read |
| `hub_healthy` | gauge | | 1 when `hub status` finds no problem, else 0 |
| `hub_records_synced_total` | counter | flow | records written to a system by runs |
| `hub_flow_runs_total` | counter | flow, status | runs by status (ok/partial/failed/crashed) |
| `hub_flow_errors_total` | counter | flow | runs that failed or crashed (their process died) |
| `hub_journal_entries` | gauge | flow, state | journal entries by state |
| `hub_dead_letters_total` | counter | flow, error_class | dead letters ever filed |
| `hub_dead_letters_open` | gauge | flow, partner, error_class | letters waiting for a person |
| `hub_lag_seconds` | gauge | flow, scope | age of the oldest unprocessed item |
| `hub_items_24h` | gauge | flow, scope | records written in the last 24 h |
| `hub_last_success_timestamp_seconds` | gauge | flow, scope | last ok run (Unix time) |
| `hub_cursor_age_seconds` | gauge | stream | time since a cursor last moved |
| `hub_inbox_files` | gauge | partner | files waiting in a partner's (local) inbox |
| `hub_partner_profiles_invalid` | gauge | | partner profile files that fail validation |
| `hub_airflow_pools_missing` | gauge | | the hub's pools missing in Airflow (when checked) |

Exposed with ``prometheus_client`` (its text format and escaping): a collector turns the
samples read from the ledger into metric families at each scrape.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from hub.bootstrap import Hub
from hub.ops import status as status_mod

HELP: dict[str, tuple[str, str]] = {
    "hub_up": ("gauge", "1 when the ledger could be read"),
    "hub_healthy": ("gauge", "1 when hub status finds no problem"),
    "hub_records_synced_total": ("counter", "Records written to a target system by flow runs"),
    "hub_flow_runs_total": ("counter", "Recorded flow runs by status"),
    "hub_flow_errors_total": ("counter", "Flow runs that failed"),
    "hub_journal_entries": ("gauge", "Journal entries by state"),
    "hub_dead_letters_total": ("counter", "Dead letters ever filed"),
    "hub_dead_letters_open": ("gauge", "Dead letters waiting for a person"),
    "hub_lag_seconds": ("gauge", "Age of the oldest unprocessed item"),
    "hub_items_24h": ("gauge", "Records written in the last 24 hours"),
    "hub_last_success_timestamp_seconds": ("gauge", "End of the last successful run"),
    "hub_cursor_age_seconds": ("gauge", "Seconds since a cursor last moved"),
    "hub_inbox_files": ("gauge", "Files waiting in a partner inbox"),
    "hub_partner_profiles_invalid": ("gauge", "Partner profile files that fail validation"),
    "hub_airflow_pools_missing": ("gauge", "The hub's pools missing in Airflow's metadata DB"),
}

Sample = tuple[str, dict[str, str], float]


def format_samples(samples: Iterable[Sample]) -> str:
    """Prometheus text exposition format 0.0.4 (by ``prometheus_client``), samples grouped
    by metric with HELP/TYPE; a counter without samples is left out."""
    from prometheus_client.core import CollectorRegistry, CounterMetricFamily, GaugeMetricFamily
    from prometheus_client.exposition import generate_latest

    by_name: dict[str, list[Sample]] = {}
    for sample in samples:
        by_name.setdefault(sample[0], []).append(sample)

    class _Collector:
        def collect(self) -> Iterable[Any]:
            for name, (kind, text) in HELP.items():
                found = by_name.get(name, [])
                if not found and kind == "counter":
                    continue
                labels = sorted({k for _, lab, _ in found for k in lab})
                family_type = CounterMetricFamily if kind == "counter" else GaugeMetricFamily
                family = family_type(name, text, labels=labels)
                for _, lab, value in found:
                    family.add_metric([str(lab.get(k, "")) for k in labels], value)
                yield family

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector())
    return generate_latest(registry).decode("utf-8")


def samples(hub: Hub, health: dict[str, Any] | None = None) -> list[Sample]:
    """Every sample, from the ledger (and ``health``, `hub status`'s dict, when given)."""
    health = health or status_mod.collect(hub)
    out: list[Sample] = [("hub_up", {}, 1), ("hub_healthy", {}, 1 if health["healthy"] else 0)]
    ledger = hub.ledger
    synced: dict[str, int] = {}
    for flow, state, count, items in ledger.run_totals():
        out.append(("hub_flow_runs_total", {"flow": flow, "status": state}, count))
        if state in ("failed", "crashed"):
            out.append(("hub_flow_errors_total", {"flow": flow}, count))
        synced[flow] = synced.get(flow, 0) + items
    out += [("hub_records_synced_total", {"flow": f}, n) for f, n in sorted(synced.items())]
    for (flow, state), count in sorted(ledger.journal_counts().items()):
        out.append(("hub_journal_entries", {"flow": flow, "state": state}, count))
    for flow, error_class, state, partner, count in ledger.dead_letter_totals():
        out.append(("hub_dead_letters_total", {"flow": flow, "error_class": error_class}, count))
        if state == "open":
            labels = {"flow": flow, "partner": partner or "", "error_class": error_class}
            out.append(("hub_dead_letters_open", labels, count))
    out = _merge(_merge(out, "hub_dead_letters_total"), "hub_flow_errors_total")
    for entry in health["flows"]:
        labels = {"flow": entry["flow"], "scope": entry["scope"]}
        out.append(("hub_lag_seconds", labels, entry["lag_seconds"]))
        out.append(("hub_items_24h", labels, entry["items_24h"]))
        last_ok = entry["last_success"]
        if last_ok and (last_ok["finished_at"] or last_ok["started_at"]):
            stamp = datetime.fromisoformat(last_ok["finished_at"] or last_ok["started_at"])
            out.append(("hub_last_success_timestamp_seconds", labels, stamp.timestamp()))
    for cursor in health["cursors"]:
        if cursor["age_seconds"] is not None:
            out.append(
                ("hub_cursor_age_seconds", {"stream": cursor["stream"]}, cursor["age_seconds"])
            )
    for partner, inbox in sorted(health["inboxes"].items()):
        if inbox.get("checked"):
            out.append(("hub_inbox_files", {"partner": partner}, inbox["files_waiting"]))
    profiles = health.get("partner_profiles") or {}
    out.append(("hub_partner_profiles_invalid", {}, len(profiles.get("invalid") or [])))
    pools = health.get("airflow_pools") or {}
    if pools.get("checked"):
        out.append(("hub_airflow_pools_missing", {}, len(pools.get("missing") or [])))
    return out


def _merge(items: list[Sample], name: str) -> list[Sample]:
    """Sum samples of ``name`` that ended up with the same labels."""
    merged: dict[tuple[tuple[str, str], ...], float] = {}
    rest: list[Sample] = []
    for sample in items:
        if sample[0] == name:
            key = tuple(sorted(sample[1].items()))
            merged[key] = merged.get(key, 0) + sample[2]
        else:
            rest.append(sample)
    return rest + [(name, dict(k), v) for k, v in merged.items()]


def render(hub: Hub, health: dict[str, Any] | None = None) -> str:
    """The metrics in Prometheus text format (what /hub/metrics serves)."""
    return format_samples(samples(hub, health))
