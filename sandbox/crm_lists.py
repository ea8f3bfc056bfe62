"""Sandbox CRM beyond batches and search: the plain list with paging, pipelines, merges, archiving.

``CrmStoreLists`` is a mixin of ``sandbox.crm_store.CrmStore`` (it works on the store's tables
under its lock); the answers are HubSpot's wire shapes, checked against the official specs
like every other sandbox answer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sandbox.crm_wire import CrmApiError, iso

if TYPE_CHECKING:
    import threading

    from sandbox.crm_store import Record, _Table

LIST_LIMIT_MAX = 100
# HubSpot's default deal pipeline and its stages (id, label, win probability)
DEAL_STAGES: tuple[tuple[str, str, str], ...] = (
    ("appointmentscheduled", "Appointment Scheduled", "0.2"),
    ("qualifiedtobuy", "Qualified To Buy", "0.4"),
    ("presentationscheduled", "Presentation Scheduled", "0.6"),
    ("decisionmakerboughtin", "Decision Maker Bought-In", "0.8"),
    ("contractsent", "Contract Sent", "0.9"),
    ("closedwon", "Closed Won", "1.0"),
    ("closedlost", "Closed Lost", "0.0"),
)
_EPOCH = iso(1_700_000_000_000)


def pipelines_body(object_name: str) -> dict[str, Any]:
    """``GET /crm/v3/pipelines/{objectType}``: the default pipeline of deals (none for others)."""
    if object_name not in ("deals", "0-3"):
        return {"results": []}
    stages = [
        {
            "id": sid, "label": label, "displayOrder": n, "archived": False,
            "createdAt": _EPOCH, "updatedAt": _EPOCH,
            "metadata": {"isClosed": str(sid.startswith("closed")).lower(), "probability": prob},
        }
        for n, (sid, label, prob) in enumerate(DEAL_STAGES)
    ]  # fmt: skip
    pipeline = {
        "id": "default", "label": "Sales Pipeline", "displayOrder": 0, "archived": False,
        "createdAt": _EPOCH, "updatedAt": _EPOCH, "stages": stages,
    }  # fmt: skip
    return {"results": [pipeline]}


class CrmStoreLists:
    """Listing by id with an ``after`` cursor, merging two records, archiving one."""

    lock: threading.RLock
    _tables: dict[str, _Table]
    _assoc: dict[tuple[str, str], dict[tuple[str, str], set[tuple[str, int]]]]
    _version: int

    def _table(self, name: str) -> _Table:
        raise NotImplementedError

    def _write(self, name: str, rec: Record | None, props: dict[str, str]) -> tuple[Record, bool]:
        raise NotImplementedError

    def list_page(self, name: str, params: dict[str, str], properties: list[str]) -> dict[str, Any]:
        """``GET /crm/v3/objects/{type}?limit=&after=``: records by id, ``after`` = last id.

        ``archived=true`` lists the archived (merged or deleted) records instead."""
        from sandbox.crm_store import object_type

        kind = object_type(name)
        limit = int(params.get("limit") or 10)
        if not 1 <= limit <= LIST_LIMIT_MAX:
            raise CrmApiError(400, "VALIDATION_ERROR", f"limit must be 1..{LIST_LIMIT_MAX}")
        after = int(params.get("after") or 0)
        archived = params.get("archived", "false").lower() == "true"
        with self.lock:
            table = self._table(kind)
            pool = table.archived if archived else table.records
            ids = sorted(int(i) for i in pool if int(i) > after)
            page = [pool[str(i)] for i in ids[:limit]]
            results = [r.view(properties or None, kind) for r in page]
        for rec, out in zip(page, results, strict=True):
            out["archived"] = archived
            if archived:
                out["archivedAt"] = iso(rec.updated_ms)
        body: dict[str, Any] = {"results": results}
        if len(ids) > limit:
            body["paging"] = {"next": {"after": str(ids[limit - 1])}}
        return body

    def archive(self, name: str, rid: str) -> None:
        """``DELETE /crm/v3/objects/{type}/{id}``: the record leaves the live table (204)."""
        from sandbox.crm_store import object_type

        kind = object_type(name)
        with self.lock:
            table = self._table(kind)
            rec = table.records.pop(rid, None)
            if rec is None:
                raise CrmApiError(404, "OBJECT_NOT_FOUND", f"No {kind} record with id {rid}")
            for prop, index in table.index.items():
                if rec.props.get(prop):
                    index.pop(_index_value(prop, rec.props[prop]), None)
            table.archived[rid] = rec
            self._version += 1

    def merge(self, name: str, body: dict[str, Any]) -> Record:
        """``POST /crm/v3/objects/{type}/merge``: the primary survives with the other's
        associations and ``hs_merged_object_ids``; the other is archived."""
        from sandbox.crm_store import object_type

        kind = object_type(name)
        primary, other = str(body["primaryObjectId"]), str(body["objectIdToMerge"])
        if primary == other:
            raise CrmApiError(400, "VALIDATION_ERROR", "cannot merge a record into itself")
        with self.lock:
            table = self._table(kind)
            for rid in (primary, other):
                if rid not in table.records:
                    raise CrmApiError(404, "OBJECT_NOT_FOUND", f"No {kind} record with id {rid}")
            merged = table.records[other]
            self._move_associations(kind, other, primary)
            self.archive(kind, other)
            keep = table.records[primary]
            ids = [i for i in (keep.props.get("hs_merged_object_ids") or "").split(";") if i]
            ids += [other, *(merged.props.get("hs_merged_object_ids") or "").split(";")]
            extra = {"hs_merged_object_ids": ";".join(dict.fromkeys(i for i in ids if i))}
            return self._write(kind, keep, extra)[0]

    def _move_associations(self, kind: str, old: str, new: str) -> None:
        links = self._assoc.pop((kind, old), {})
        mine = self._assoc.setdefault((kind, new), {})
        for (to_kind, to_id), specs in links.items():
            mine.setdefault((to_kind, to_id), set()).update(specs)
            back = self._assoc.get((to_kind, to_id), {})
            if (kind, old) in back:
                back.setdefault((kind, new), set()).update(back.pop((kind, old)))


def _index_value(prop: str, value: str) -> str:
    return value.lower() if prop == "email" else value
