"""In-memory state of the sandbox CRM: objects v3, unique properties, search, associations v4.

Everything speaks HubSpot's wire shapes (dicts ready to be JSON-encoded); the HTTP layer in
``sandbox/crm.py`` only routes. One lock guards the whole store: simple, and fast enough for
thousands of batch requests a second.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from connectors.crm.models import ASSOCIATION_TYPE_IDS
from sandbox.crm_lists import CrmStoreLists
from sandbox.crm_search import matches, sort_key, sort_spec
from sandbox.crm_wire import CrmApiError, iso

OBJECT_TYPE_IDS: dict[str, str] = {
    "contacts": "0-1",
    "companies": "0-2",
    "deals": "0-3",
    "products": "0-7",
    "line_items": "0-8",
    "quotes": "0-14",
}
_ALIASES: dict[str, str] = {
    **{name: name for name in OBJECT_TYPE_IDS},
    **{type_id: name for name, type_id in OBJECT_TYPE_IDS.items()},
    "contact": "contacts",
    "company": "companies",
    "deal": "deals",
    "product": "products",
    "line_item": "line_items",
    "lineitem": "line_items",
    "lineitems": "line_items",
    "quote": "quotes",
}

# HubSpot-defined association type ids between the standard objects (the wire contract the
# connector also speaks), and their inverses.
DEFAULT_ASSOCIATION_TYPES: dict[tuple[str, str], int] = dict(ASSOCIATION_TYPE_IDS)
PRIMARY_ASSOCIATION_TYPES: dict[tuple[str, str], int] = {
    ("contacts", "companies"): 1,
    ("companies", "contacts"): 2,
    ("deals", "companies"): 5,
    ("companies", "deals"): 6,
}
_INVERSE_TYPE: dict[int, int] = {
    279: 280, 280: 279, 3: 4, 4: 3, 341: 342, 342: 341, 19: 20, 20: 19, 1: 2, 2: 1, 5: 6, 6: 5,
    63: 64, 64: 63,
}  # fmt: skip

DEFAULT_PROPERTIES: dict[str, tuple[str, ...]] = {
    "companies": ("name", "domain"),
    "contacts": ("firstname", "lastname", "email", "lastmodifieddate"),
    "deals": ("dealname", "amount", "closedate", "pipeline", "dealstage"),
    "products": ("name", "description", "price"),
    "line_items": ("quantity", "amount", "price"),
    "quotes": ("hs_title", "hs_expiration_date", "hs_status"),
}
ALWAYS_RETURNED = ("createdate", "hs_lastmodifieddate", "hs_object_id")
READ_ONLY = frozenset({
    "hs_object_id", "createdate", "hs_lastmodifieddate", "lastmodifieddate", "hs_merged_object_ids",
})  # fmt: skip
NUMBER_PROPERTIES = frozenset({"amount", "price", "quantity", "hs_cost_of_goods_sold", "discount"})
DEFAULT_UNIQUE_PROPERTIES: dict[str, frozenset[str]] = {
    "companies": frozenset({"hub_erp_id"}),
    "contacts": frozenset({"hub_erp_id", "email"}),
    "deals": frozenset({"hub_erp_id"}),
    "products": frozenset({"hub_erp_id"}),
    "line_items": frozenset({"hub_erp_id"}),
    "quotes": frozenset({"hub_erp_id"}),
}
MAX_VALUE_LENGTH = 65536
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def object_type(name: str) -> str:
    """Canonical plural object type for a path segment (``company``, ``0-2``, ``companies``)."""
    try:
        return _ALIASES[name.lower()]
    except KeyError:
        raise CrmApiError(
            400, "VALIDATION_ERROR", f"Unable to infer object type from: {name}"
        ) from None


@dataclass
class Record:
    """One CRM object: its id, properties (all strings) and timestamps in epoch ms."""

    id: str
    props: dict[str, str]
    created_ms: int
    updated_ms: int

    def view(self, properties: Iterable[str] | None, object_name: str) -> dict[str, Any]:
        wanted = list(properties) if properties else list(DEFAULT_PROPERTIES[object_name])
        shown = {
            name: self.props[name] for name in (*wanted, *ALWAYS_RETURNED) if name in self.props
        }
        return {
            "id": self.id,
            "properties": shown,
            "createdAt": iso(self.created_ms),
            "updatedAt": iso(self.updated_ms),
            "archived": False,
        }

    def full_view(self) -> dict[str, Any]:
        return self.view(list(self.props), "companies")


@dataclass
class InputError:
    """Why one input of a batch was refused, in HubSpot's StandardError shape."""

    input_id: str
    category: str
    message: str
    code: str
    field_name: str | None = None
    trace_id: str | None = None
    status: str = "error"

    def body(self) -> dict[str, Any]:
        context = {"ids": [self.input_id]}
        if self.trace_id:
            context["objectWriteTraceId"] = [self.trace_id]
        detail: dict[str, Any] = {"message": self.message, "code": self.code}
        if self.field_name:
            detail["in"] = self.field_name
        return {
            "status": self.status,
            "category": self.category,
            "message": self.message,
            "context": context,
            "errors": [detail],
            "links": {},
        }


@dataclass
class _Table:
    unique: frozenset[str]
    records: dict[str, Record] = field(default_factory=dict)
    index: dict[str, dict[str, str]] = field(default_factory=dict)  # prop -> value -> id
    archived: dict[str, Record] = field(default_factory=dict)  # merged or deleted


class CrmStore(CrmStoreLists):
    """The records, unique indexes and associations of one sandbox CRM account."""

    def __init__(
        self,
        unique_properties: dict[str, frozenset[str]] | None = None,
        clock: Callable[[], float] = time.time,
        search_cap: int = 10_000,
    ) -> None:
        self._unique = {**DEFAULT_UNIQUE_PROPERTIES, **(unique_properties or {})}
        self._clock = clock
        self.search_cap = search_cap
        self.lock = threading.RLock()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self._tables = {name: _Table(self._unique[name]) for name in OBJECT_TYPE_IDS}
            # (from_type, from_id) -> {(to_type, to_id): {(category, type_id)}}
            self._assoc: dict[tuple[str, str], dict[tuple[str, str], set[tuple[str, int]]]] = {}
            self._next_id = 1000
            self._last_ms = 0
            self._version = 0
            self._search_cache: dict[tuple[str, str, int], list[Record]] = {}

    # -- helpers -----------------------------------------------------------------------
    def _now_ms(self) -> int:
        ms = int(self._clock() * 1000)
        self._last_ms = max(self._last_ms, ms)
        return self._last_ms

    def _table(self, name: str) -> _Table:
        return self._tables[object_type(name)]

    def counts(self) -> dict[str, int]:
        with self.lock:
            return {name: len(t.records) for name, t in self._tables.items()}

    def all_records(self, name: str) -> list[dict[str, Any]]:
        with self.lock:
            return [r.full_view() for r in self._table(name).records.values()]

    def find(self, name: str, id_value: str, id_property: str | None = None) -> Record | None:
        table = self._table(name)
        if not id_property or id_property == "hs_object_id":
            return table.records.get(id_value)
        if id_property not in table.unique:
            raise CrmApiError(
                400,
                "VALIDATION_ERROR",
                f"{id_property} is not a unique value property of {object_type(name)}",
            )
        rid = table.index.get(id_property, {}).get(_index_key(id_property, id_value))
        return table.records.get(rid) if rid else None

    def _check_values(
        self, name: str, props: dict[str, Any], input_id: str, trace: str | None
    ) -> InputError | None:
        for key, value in props.items():
            if key in READ_ONLY:
                return InputError(
                    input_id, "VALIDATION_ERROR", f'Property "{key}" is read-only',
                    "READ_ONLY_VALUE", key, trace,
                )  # fmt: skip
            if not isinstance(value, str):
                return InputError(
                    input_id, "VALIDATION_ERROR", f'Property "{key}" must be a string',
                    "INVALID_TYPE", key, trace,
                )  # fmt: skip
            if len(value) > MAX_VALUE_LENGTH:
                return InputError(
                    input_id, "VALIDATION_ERROR",
                    f'Property "{key}" is longer than {MAX_VALUE_LENGTH} characters',
                    "MAX_CHARACTERS", key, trace,
                )  # fmt: skip
            if key == "email" and name == "contacts" and value and not _EMAIL.match(value):
                return InputError(
                    input_id, "VALIDATION_ERROR",
                    f'Property values were not valid: "{value}" is not a valid email address',
                    "INVALID_EMAIL", key, trace,
                )  # fmt: skip
            if key in NUMBER_PROPERTIES and value:
                try:
                    float(value)
                except ValueError:
                    return InputError(
                        input_id, "VALIDATION_ERROR",
                        f'Property values were not valid: "{value}" is not a number for "{key}"',
                        "INVALID_INTEGER", key, trace,
                    )  # fmt: skip
        return None

    def _conflict(
        self, table: _Table, props: dict[str, str], own_id: str | None
    ) -> tuple[str, str, str] | None:
        for prop in table.unique:
            value = props.get(prop)
            if not value:
                continue
            other = table.index.get(prop, {}).get(_index_key(prop, value))
            if other and other != own_id:
                return prop, value, other
        return None

    def _write(self, name: str, rec: Record | None, props: dict[str, str]) -> tuple[Record, bool]:
        """Create (rec None) or update ``rec`` with ``props``; keeps indexes and timestamps."""
        table = self._table(name)
        now = self._now_ms()
        created = rec is None
        if rec is None:
            self._next_id += 1
            rid = str(self._next_id)
            rec = Record(rid, {"hs_object_id": rid, "createdate": iso(now)}, now, now)
            table.records[rid] = rec
        for prop in table.unique:
            if prop in props and rec.props.get(prop):
                table.index.get(prop, {}).pop(_index_key(prop, rec.props[prop]), None)
        for key, value in props.items():
            if value == "":
                rec.props.pop(key, None)
            else:
                rec.props[key] = value
        for prop in table.unique:
            if rec.props.get(prop):
                table.index.setdefault(prop, {})[_index_key(prop, rec.props[prop])] = rec.id
        rec.updated_ms = now
        rec.props["hs_lastmodifieddate"] = iso(now)
        if name == "contacts":
            rec.props["lastmodifieddate"] = iso(now)
        self._version += 1
        return rec, created

    # -- objects v3 -------------------------------------------------------------------
    def create(self, name: str, props: dict[str, Any]) -> Record:
        name = object_type(name)
        with self.lock:
            bad = self._check_values(name, props, "", None)
            if bad:
                raise CrmApiError(400, bad.category, bad.message)
            clash = self._conflict(self._tables[name], props, None)
            if clash:
                prop, value, other = clash
                raise CrmApiError(
                    409, "CONFLICT",
                    f"A {name} record with {prop}={value} already exists. Existing ID: {other}",
                    existingId=[other],
                )  # fmt: skip
            return self._write(name, None, props)[0]

    def update(
        self, name: str, id_value: str, props: dict[str, Any], id_property: str | None = None
    ) -> Record:
        name = object_type(name)
        with self.lock:
            rec = self.find(name, id_value, id_property)
            if rec is None:
                raise CrmApiError(404, "OBJECT_NOT_FOUND", f"No {name} record with id {id_value}")
            bad = self._check_values(name, props, id_value, None)
            if bad:
                raise CrmApiError(400, bad.category, bad.message)
            clash = self._conflict(self._tables[name], props, rec.id)
            if clash:
                prop, value, other = clash
                raise CrmApiError(
                    409, "CONFLICT", f"{prop}={value} already belongs to {name} {other}"
                )
            return self._write(name, rec, props)[0]

    def batch_upsert(
        self, name: str, inputs: list[dict[str, Any]]
    ) -> tuple[list[dict[str, Any]], list[InputError]]:
        """Create or update by id property; per-input failures come back as InputErrors."""
        name = object_type(name)
        seen: set[str] = set()
        for item in inputs:
            key = f"{item.get('idProperty')}:{item['id']}"
            if key in seen:
                raise CrmApiError(
                    400, "VALIDATION_ERROR", f"Duplicate IDs found in batch input: {item['id']}"
                )
            seen.add(key)
        results: list[dict[str, Any]] = []
        errors: list[InputError] = []
        with self.lock:
            table = self._tables[name]
            for item in inputs:
                id_value: str = item["id"]
                id_property = item.get("idProperty")
                trace = item.get("objectWriteTraceId")
                props = dict(item.get("properties") or {})
                bad = self._check_values(name, props, id_value, trace)
                if bad:
                    errors.append(bad)
                    continue
                rec = self.find(name, id_value, id_property)
                if rec is None and not id_property:
                    errors.append(InputError(
                        id_value, "OBJECT_NOT_FOUND", f"No {name} record with id {id_value}",
                        "OBJECT_NOT_FOUND", None, trace,
                    ))  # fmt: skip
                    continue
                if id_property and id_property != "hs_object_id":
                    props[id_property] = id_value
                clash = self._conflict(table, props, rec.id if rec else None)
                if clash:
                    prop, value, other = clash
                    errors.append(InputError(
                        id_value, "CONFLICT",
                        f"{prop}={value} already belongs to {name} record {other}",
                        "CONFLICT", prop, trace,
                    ))  # fmt: skip
                    continue
                rec, created = self._write(name, rec, props)
                out = rec.view(list(rec.props), name)
                out["new"] = created
                if trace:
                    out["objectWriteTraceId"] = trace
                results.append(out)
        return results, errors

    def batch_read(
        self, name: str, ids: list[str], id_property: str | None, properties: list[str]
    ) -> tuple[list[dict[str, Any]], list[InputError]]:
        name = object_type(name)
        results: list[dict[str, Any]] = []
        errors: list[InputError] = []
        with self.lock:
            for id_value in ids:
                rec = self.find(name, id_value, id_property)
                if rec is None:
                    errors.append(InputError(
                        id_value, "OBJECT_NOT_FOUND", f"Could not get some {name} objects, "
                        f"they may be deleted or not exist: {id_value}", "OBJECT_NOT_FOUND",
                    ))  # fmt: skip
                    continue
                out = rec.view(properties, name)
                if id_property:
                    out["properties"].setdefault(id_property, rec.props.get(id_property, ""))
                results.append(out)
        return results, errors

    def search(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        """HubSpot search: OR of filter groups (AND inside), sorts, limit and ``after`` offset."""
        name = object_type(name)
        limit = int(body.get("limit") or 10)
        if limit > 200:
            raise CrmApiError(400, "VALIDATION_ERROR", "limit must be at most 200")
        offset = int(body.get("after") or 0)
        if offset >= self.search_cap:
            raise CrmApiError(
                400,
                "VALIDATION_ERROR",
                f"Search results are capped at {self.search_cap}: narrow the filter "
                f"(after={offset})",
            )
        groups = body.get("filterGroups") or []
        sorts = body.get("sorts") or []
        key = json.dumps([groups, sorts, body.get("query")], sort_keys=True)
        with self.lock:
            cache_key = (name, key, self._version)
            matched = self._search_cache.get(cache_key)
            if matched is None:
                records = self._tables[name].records.values()
                matched = [r for r in records if matches(r, groups)]
                for prop, descending in reversed([sort_spec(s) for s in sorts] or [("", False)]):
                    matched.sort(key=partial(sort_key, prop=prop), reverse=descending)
                self._search_cache = {cache_key: matched}  # keep the latest query only
            total = len(matched)
            page = matched[offset : offset + limit]
            out: dict[str, Any] = {
                "total": total,
                "results": [r.view(body.get("properties") or None, name) for r in page],
            }
        if offset + limit < total:
            out["paging"] = {"next": {"after": str(offset + limit)}}
        return out

    # -- associations v4 --------------------------------------------------------------
    def associate(
        self, from_name: str, to_name: str, inputs: list[dict[str, Any]]
    ) -> tuple[list[dict[str, Any]], list[InputError]]:
        from_name, to_name = object_type(from_name), object_type(to_name)
        results: list[dict[str, Any]] = []
        errors: list[InputError] = []
        with self.lock:
            for item in inputs:
                fid, tid = str(item["from"]["id"]), str(item["to"]["id"])
                if fid not in self._tables[from_name].records:
                    errors.append(_missing(from_name, fid))
                    continue
                if tid not in self._tables[to_name].records:
                    errors.append(_missing(to_name, tid))
                    continue
                specs: list[tuple[str, int]] = []
                for spec in item.get("types") or []:
                    category = spec["associationCategory"]
                    type_id = int(spec["associationTypeId"])
                    allowed = {
                        DEFAULT_ASSOCIATION_TYPES.get((from_name, to_name)),
                        PRIMARY_ASSOCIATION_TYPES.get((from_name, to_name)),
                    }
                    if category == "HUBSPOT_DEFINED" and type_id not in allowed:
                        errors.append(InputError(
                            fid, "VALIDATION_ERROR",
                            f"associationTypeId {type_id} is not a HUBSPOT_DEFINED type from "
                            f"{from_name} to {to_name}", "INVALID_ASSOCIATION_TYPE",
                        ))  # fmt: skip
                        specs = []
                        break
                    specs.append((category, type_id))
                if not specs:
                    continue
                forward = self._assoc.setdefault((from_name, fid), {}).setdefault(
                    (to_name, tid), set()
                )
                backward = self._assoc.setdefault((to_name, tid), {}).setdefault(
                    (from_name, fid), set()
                )
                for category, type_id in specs:
                    forward.add((category, type_id))
                    backward.add((category, _INVERSE_TYPE.get(type_id, type_id)))
                results.append({
                    "fromObjectTypeId": OBJECT_TYPE_IDS[from_name],
                    "fromObjectId": fid,
                    "toObjectTypeId": OBJECT_TYPE_IDS[to_name],
                    "toObjectId": tid,
                    "labels": [],
                })  # fmt: skip
        return results, errors

    def associate_default(
        self, from_name: str, to_name: str, inputs: list[dict[str, Any]]
    ) -> tuple[list[dict[str, Any]], list[InputError]]:
        from_name, to_name = object_type(from_name), object_type(to_name)
        type_id = DEFAULT_ASSOCIATION_TYPES.get((from_name, to_name))
        if type_id is None:
            raise CrmApiError(
                400, "VALIDATION_ERROR", f"No default association from {from_name} to {to_name}"
            )
        spec = {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id}
        done, errors = self.associate(
            from_name, to_name, [{**item, "types": [spec]} for item in inputs]
        )
        results = [
            {
                "from": {"id": r["fromObjectId"]},
                "to": {"id": r["toObjectId"]},
                "associationSpec": spec,
            }
            for r in done
        ]
        return results, errors

    def read_associations(
        self, from_name: str, to_name: str, ids: list[str]
    ) -> tuple[list[dict[str, Any]], list[InputError]]:
        from_name, to_name = object_type(from_name), object_type(to_name)
        results: list[dict[str, Any]] = []
        errors: list[InputError] = []
        with self.lock:
            for fid in ids:
                links = {
                    tid: specs
                    for (tname, tid), specs in self._assoc.get((from_name, fid), {}).items()
                    if tname == to_name
                }
                if not links:
                    errors.append(InputError(
                        fid, "OBJECT_NOT_FOUND", f"No {to_name} is associated to {from_name} {fid}",
                        "NO_ASSOCIATIONS_FOUND",
                    ))  # fmt: skip
                    continue
                results.append({
                    "from": {"id": fid},
                    "to": [
                        {
                            "toObjectId": tid,
                            "associationTypes": [
                                {"category": c, "typeId": t} for c, t in sorted(specs)
                            ],
                        }
                        for tid, specs in sorted(links.items())
                    ],
                })  # fmt: skip
        return results, errors

    def all_associations(self) -> list[dict[str, Any]]:
        with self.lock:
            return [
                {"from": [fn, fid], "to": [tn, tid], "types": sorted([c, t] for c, t in specs)}
                for (fn, fid), links in self._assoc.items()
                for (tn, tid), specs in links.items()
            ]


def _index_key(prop: str, value: str) -> str:
    return value.lower() if prop == "email" else value


def _missing(name: str, rid: str) -> InputError:
    return InputError(
        rid, "OBJECT_NOT_FOUND", f"No {name} record with id {rid}", "OBJECT_NOT_FOUND"
    )
