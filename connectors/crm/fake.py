"""FakeCrm: the CRM port in memory, for unit tests of flows (kept honest by the contract suite).

It behaves as the HubSpot client does against the sandbox CRM: unique id property (and
unique e-mail for contacts), per-record refusals in the outcome (read-only, invalid e-mail
or number, unique clash, unknown id), a non-decreasing last-modified stamp per write,
search oldest first, associations both ways. ``user_create``/``user_update`` stand for a
person typing in the CRM. Thread-safe (flows send pages from worker threads).
"""

from __future__ import annotations

import itertools
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from connectors.crm.models import (
    ASSOCIATION_TYPE_IDS,
    MODIFIED_PROPERTY,
    OBJECT_TYPES,
    AssociationOutcome,
    CrmRecord,
    Pipeline,
    ReadOutcome,
    RecordFailure,
    UpsertOutcome,
    UpsertSuccess,
    to_epoch_ms,
    wire_value,
)
from connectors.crm.port import CrmPort
from schemas.errors import PermanentError

SYSTEM = "crm"
# HubSpot's default deal pipeline: stage id -> label
DEAL_STAGES = (
    ("appointmentscheduled", "Appointment Scheduled"), ("qualifiedtobuy", "Qualified To Buy"),
    ("presentationscheduled", "Presentation Scheduled"),
    ("decisionmakerboughtin", "Decision Maker Bought-In"), ("contractsent", "Contract Sent"),
    ("closedwon", "Closed Won"), ("closedlost", "Closed Lost"),
)  # fmt: skip
ALWAYS_RETURNED = ("createdate", "hs_lastmodifieddate", "hs_object_id")
READ_ONLY = frozenset({"hs_object_id", "createdate", "hs_lastmodifieddate", "lastmodifieddate"})
NUMBER_PROPERTIES = frozenset({"amount", "price", "quantity", "hs_cost_of_goods_sold", "discount"})
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass
class _Row:
    crm_id: str
    props: dict[str, str]
    created_ms: int
    updated_ms: int = 0


@dataclass
class _Table:
    rows: dict[str, _Row] = field(default_factory=dict)
    archived: dict[str, _Row] = field(default_factory=dict)  # merged or deleted


def _iso(ms: int) -> str:
    stamp = datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.")
    return f"{stamp}{ms % 1000:03d}Z"


class FakeCrm(CrmPort):
    """An in-memory CRM account implementing ``CrmPort``."""

    def __init__(
        self, *, id_property: str = "hub_erp_id", clock: Callable[[], float] = time.time
    ) -> None:
        self.id_property = id_property
        self._clock = clock
        self._tables = {name: _Table() for name in OBJECT_TYPES}
        self._links: set[tuple[str, str, str, str]] = set()  # (from type, id, to type, id)
        self._ids = itertools.count(1001)
        self._last_ms = 0
        self._lock = threading.RLock()
        self.counters: Counter[str] = Counter()

    def __repr__(self) -> str:
        return f"FakeCrm(id_property={self.id_property!r})"

    # -- helpers --------------------------------------------------------------------------
    def _table(self, object_type: str) -> _Table:
        if object_type not in OBJECT_TYPES:
            raise ValueError(f"unknown CRM object type {object_type!r}; use one of {OBJECT_TYPES}")
        return self._tables[object_type]

    def _request(self) -> None:
        self.counters["requests"] += 1

    def _now_ms(self) -> int:
        self._last_ms = max(self._last_ms, int(self._clock() * 1000))
        return self._last_ms

    def _unique(self, object_type: str) -> tuple[str, ...]:
        return (self.id_property, "email") if object_type == "contacts" else (self.id_property,)

    def _find(self, object_type: str, value: str, prop: str) -> _Row | None:
        table = self._table(object_type)
        if prop == "hs_object_id":
            return table.rows.get(value)
        wanted = value.lower() if prop == "email" else value
        for row in table.rows.values():
            have = row.props.get(prop)
            if have is not None and (have.lower() if prop == "email" else have) == wanted:
                return row
        return None

    def _refusal(self, object_type: str, props: Mapping[str, str]) -> tuple[str, str, str] | None:
        """(code, field, message) of the first invalid value, like the CRM's validation."""
        for key, value in props.items():
            if key in READ_ONLY:
                return "READ_ONLY_VALUE", key, f'Property "{key}" is read-only'
            if key == "email" and object_type == "contacts" and value and not _EMAIL.match(value):
                return "INVALID_EMAIL", key, f'"{value}" is not a valid email address'
            if key in NUMBER_PROPERTIES and value:
                try:
                    float(value)
                except ValueError:
                    return "INVALID_INTEGER", key, f'"{value}" is not a number for "{key}"'
        return None

    def _clash(self, object_type: str, props: Mapping[str, str], own: str | None) -> str | None:
        for prop in self._unique(object_type):
            value = props.get(prop)
            other = self._find(object_type, value, prop) if value else None
            if other is not None and other.crm_id != own:
                return prop
        return None

    def _write(self, object_type: str, row: _Row | None, props: Mapping[str, str]) -> _Row:
        now = self._now_ms()
        if row is None:
            rid = str(next(self._ids))
            row = _Row(rid, {"hs_object_id": rid, "createdate": _iso(now)}, now)
            self._tables[object_type].rows[rid] = row
        for key, value in props.items():
            if value == "":
                row.props.pop(key, None)
            else:
                row.props[key] = value
        row.updated_ms = now
        row.props["hs_lastmodifieddate"] = _iso(now)
        if object_type == "contacts":
            row.props["lastmodifieddate"] = _iso(now)
        return row

    def _record(self, object_type: str, row: _Row, wanted: Sequence[str] | None) -> CrmRecord:
        names = list(row.props) if wanted is None else [*wanted, *ALWAYS_RETURNED]
        props = {n: row.props[n] for n in names if n in row.props}
        return CrmRecord(
            object_type, row.crm_id, props, props.get(self.id_property),
            datetime.fromtimestamp(row.created_ms / 1000, tz=UTC),
            datetime.fromtimestamp(row.updated_ms / 1000, tz=UTC),
        )  # fmt: skip

    # -- the port ---------------------------------------------------------------------------
    def upsert(self, object_type: str, records: Mapping[str, Mapping[str, Any]]) -> UpsertOutcome:
        self._table(object_type)
        outcome = UpsertOutcome()
        items = list(records.items())
        with self._lock:
            for start in range(0, len(items), 100):
                self._request()
                for erp_id, given in items[start : start + 100]:
                    props = {k: wire_value(v) for k, v in given.items()}
                    bad = self._refusal(object_type, props)
                    if bad is not None:
                        code, name, message = bad
                        outcome.failed.append(
                            RecordFailure(erp_id, "VALIDATION_ERROR", message, code, name)
                        )
                        continue
                    row = self._find(object_type, erp_id, self.id_property)
                    props[self.id_property] = erp_id
                    clash = self._clash(object_type, props, row.crm_id if row else None)
                    if clash is not None:
                        outcome.failed.append(RecordFailure(
                            erp_id, "CONFLICT",
                            f"{clash}={props[clash]} already belongs to another {object_type}",
                            "CONFLICT", clash,
                        ))  # fmt: skip
                        continue
                    new = row is None
                    row = self._write(object_type, row, props)
                    record = self._record(object_type, row, None)
                    outcome.succeeded.append(UpsertSuccess(erp_id, row.crm_id, new, record))
        return outcome

    def read_batch(
        self, object_type: str, ids: list[str], names: list[str], by_id_property: bool
    ) -> ReadOutcome:
        outcome = ReadOutcome()
        with self._lock:
            self.counters["requests"] += (len(ids) + 99) // 100
            for value in ids:
                row = self._find(
                    object_type, value, self.id_property if by_id_property else "hs_object_id"
                )
                if row is None:
                    outcome.missing.append(value)
                else:
                    outcome.found[value] = self._record(object_type, row, names)
        return outcome

    def search_modified_since(
        self,
        object_type: str,
        since: datetime | int | None = None,
        *,
        properties: Sequence[str] = (),
        page_size: int = 100,
    ) -> Iterator[CrmRecord]:
        if not 1 <= page_size <= 200:
            raise ValueError("crm search page_size must be 1..200")
        table = self._table(object_type)
        lower = to_epoch_ms(since) if since is not None else 0
        names = list(dict.fromkeys([*properties, self.id_property, MODIFIED_PROPERTY[object_type]]))
        with self._lock:
            rows = sorted(
                (r for r in table.rows.values() if r.updated_ms >= lower),
                key=lambda r: (r.updated_ms, int(r.crm_id)),
            )
            self.counters["requests"] += max(1, (len(rows) + page_size - 1) // page_size)
            found = [self._record(object_type, r, names) for r in rows]
        yield from found

    def associate(
        self, from_type: str, to_type: str, pairs: Iterable[tuple[str, str]]
    ) -> AssociationOutcome:
        src, dst = self._table(from_type), self._table(to_type)
        if (from_type, to_type) not in ASSOCIATION_TYPE_IDS:
            raise ValueError(f"no default association type from {from_type} to {to_type}")
        outcome = AssociationOutcome()
        unique = list(dict.fromkeys(pairs))
        with self._lock:
            self.counters["requests"] += (len(unique) + 99) // 100
            for fid, tid in unique:
                missing = (from_type, fid) if fid not in src.rows else None
                if missing is None and tid not in dst.rows:
                    missing = (to_type, tid)
                if missing is not None:
                    outcome.failed.append(RecordFailure(
                        missing[1], "OBJECT_NOT_FOUND",
                        f"No {missing[0]} record with id {missing[1]}", "OBJECT_NOT_FOUND",
                    ))  # fmt: skip
                    continue
                self._links.add((from_type, fid, to_type, tid))
                self._links.add((to_type, tid, from_type, fid))
                outcome.created.append((fid, tid))
        return outcome

    def associations(
        self, from_type: str, to_type: str, ids: Iterable[str]
    ) -> dict[str, list[str]]:
        self._table(from_type), self._table(to_type)
        wanted = list(dict.fromkeys(ids))
        out: dict[str, list[str]] = {}
        with self._lock:
            self.counters["requests"] += (len(wanted) + 99) // 100
            for fid in wanted:
                linked = sorted(
                    t for (ft, f, tt, t) in self._links if (ft, f, tt) == (from_type, fid, to_type)
                )
                if linked:
                    out[fid] = linked
        return out

    def update(
        self,
        object_type: str,
        id_value: str,
        properties: Mapping[str, Any],
        *,
        by_id_property: bool = True,
    ) -> CrmRecord:
        by = self.id_property if by_id_property else "hs_object_id"
        props = {k: wire_value(v) for k, v in properties.items()}
        with self._lock:
            self._request()
            row = self._find(object_type, id_value, by)
            if row is None:
                raise PermanentError(
                    f"crm update of {object_type} {by}={id_value}: no such record (404)",
                    system=SYSTEM, code="404",
                )  # fmt: skip
            bad = self._refusal(object_type, props)
            if bad is not None:
                raise PermanentError(
                    f"crm update of {object_type} {by}={id_value}: {bad[2]} (400)",
                    system=SYSTEM, code="400",
                )  # fmt: skip
            if self._clash(object_type, props, row.crm_id) is not None:
                raise PermanentError(
                    f"crm update of {object_type} {by}={id_value}: a unique value is taken (409)",
                    system=SYSTEM, code="409",
                )  # fmt: skip
            return self._record(object_type, self._write(object_type, row, props), None)

    def list_records(
        self, object_type: str, *, properties: Sequence[str] = (), archived: bool = False
    ) -> Iterator[CrmRecord]:
        table = self._table(object_type)
        names = list(dict.fromkeys([*properties, self.id_property]))
        with self._lock:
            pool = table.archived if archived else table.rows
            rows = sorted(pool.values(), key=lambda r: int(r.crm_id))
            self.counters["requests"] += max(1, (len(rows) + 99) // 100)
            found = [self._record(object_type, r, names) for r in rows]
        yield from found

    def pipelines(self, object_type: str) -> list[Pipeline]:
        self._table(object_type)
        with self._lock:
            self._request()
        if object_type != "deals":
            return []
        return [Pipeline("default", "Sales Pipeline", dict(DEAL_STAGES))]

    def stats(self) -> dict[str, int]:
        with self._lock:
            return dict(self.counters)

    # -- a person at the CRM, and what tests inspect -------------------------------------------
    def user_create(self, object_type: str, properties: Mapping[str, Any]) -> CrmRecord:
        """A record typed in the CRM by a person (no request counted)."""
        props = {k: wire_value(v) for k, v in properties.items()}
        with self._lock:
            self._table(object_type)
            return self._record(object_type, self._write(object_type, None, props), None)

    def user_update(self, object_type: str, crm_id: str, properties: Mapping[str, Any]) -> None:
        """A person edits a record in the CRM (no request counted)."""
        with self._lock:
            row = self._table(object_type).rows[crm_id]
            self._write(object_type, row, {k: wire_value(v) for k, v in properties.items()})

    def records(self, object_type: str) -> list[CrmRecord]:
        """Every record of a type with all its properties, oldest first."""
        with self._lock:
            rows = sorted(self._table(object_type).rows.values(), key=lambda r: int(r.crm_id))
            return [self._record(object_type, r, None) for r in rows]

    def user_merge(self, object_type: str, primary: str, other: str) -> None:
        """A person merges ``other`` into ``primary`` (associations move, ``other`` archived)."""
        with self._lock:
            table = self._table(object_type)
            gone = table.rows.pop(other)
            table.archived[other] = gone
            for link in [x for x in self._links if x[1] == other or x[3] == other]:
                self._links.discard(link)
                ft, f, tt, t = (primary if x == other else x for x in link)
                self._links.add((ft, f, tt, t))
            keep = table.rows[primary]
            ids = [i for i in keep.props.get("hs_merged_object_ids", "").split(";") if i]
            self._write(object_type, keep, {"hs_merged_object_ids": ";".join([*ids, other])})

    def user_archive(self, object_type: str, crm_id: str) -> None:
        """A person deletes a record (it is archived)."""
        with self._lock:
            table = self._table(object_type)
            table.archived[crm_id] = table.rows.pop(crm_id)
