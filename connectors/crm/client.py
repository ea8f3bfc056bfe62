"""HubSpot CRM v3/v4 REST client: batch upsert/read, incremental search, associations, creates.

Retrying follows the hub's policy (``connectors/http.py``): 429 waits Retry-After (capped),
connect errors always retry, 5xx and read timeouts retry only for idempotent calls (upsert
by id property, reads, search, association create); a create is never repeated blindly:
after an unknown outcome it looks the record up by its id property first. Every request
spends one slot of a ``RateBudget`` shared by all tasks of the same CRM account, and the
CRM's ``X-HubSpot-RateLimit-*`` headers are fed back to it. The private-app token is held
by a redacting auth object: it is never logged nor put in an error.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import quote

import requests
from pydantic import BaseModel, ValidationError

from connectors.crm.models import (
    ASSOCIATION_TYPE_IDS,
    MODIFIED_PROPERTY,
    OBJECT_TYPES,
    AssociationOutcome,
    CreateResult,
    CrmRecord,
    Pipeline,
    ReadOutcome,
    RecordFailure,
    UpsertOutcome,
    UpsertSuccess,
    WireAssociationBatch,
    WireAssociationReadBatch,
    WireBatchResponse,
    WireListResponse,
    WireObject,
    WirePipelines,
    WireSearchResponse,
    error_ids,
    failure_from_wire,
    to_epoch_ms,
    wire_value,
)
from connectors.crm.port import CrmPort
from connectors.crm.ratelimit import RateBudget, UnlimitedBudget
from connectors.http import (
    RetryPolicy,
    classify_status,
    new_session,
    redact_url,
    translate_transport_error,
    with_retries,
)
from schemas.errors import HubError, OutcomeUnknownError, PermanentError

log = logging.getLogger(__name__)

SYSTEM = "crm"
BATCH_LIMIT = 100
SEARCH_CAP = 10_000
SEARCH_PAGE_MAX = 200
M = TypeVar("M", bound=BaseModel)


class _BearerAuth(requests.auth.AuthBase):
    """Adds the private-app token; its repr never shows it."""

    def __init__(self, token: str) -> None:
        self._token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._token}"
        return request

    def __repr__(self) -> str:
        return "_BearerAuth(<redacted>)"


# HubSpot's official deals spec names the object by its type id (0-3) in every path; the API
# accepts the plural name as well, but the contract is the spec, so the client speaks it
PATH_SEGMENTS = {"deals": "0-3"}


def path_segment(object_type: str) -> str:
    """The path segment of an object type as the official specs write it."""
    return PATH_SEGMENTS.get(object_type, object_type)


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class CrmClient(CrmPort):
    """The CRM port over HubSpot's REST API. Thread-safe if each thread owns its session.

    ``account`` keys the shared rate budget (e.g. the portal id or the Airflow connection
    id); by default it is derived from the base URL and a one-way hash of the token.
    """

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        account: str | None = None,
        id_property: str = "hub_erp_id",
        budget: RateBudget | None = None,
        policy: RetryPolicy | None = None,
        timeout: tuple[float, float] = (3.05, 30.0),
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        batch_size: int = BATCH_LIMIT,
        search_cap: int = SEARCH_CAP,
        in_flight: int = 2,
    ) -> None:
        if not token:
            raise PermanentError(
                "no CRM private-app token given: set the password of the hub's CRM Airflow "
                "connection",
                system=SYSTEM,
            )
        if not 1 <= batch_size <= BATCH_LIMIT:
            raise ValueError(f"crm batch_size must be 1..{BATCH_LIMIT}, got {batch_size}")
        self.base_url = base_url.rstrip("/")
        self.id_property = id_property
        self.account = account or (
            f"{redact_url(self.base_url)}#{hashlib.sha256(token.encode()).hexdigest()[:12]}"
        )
        self.budget: RateBudget = budget or UnlimitedBudget()
        self.policy = policy or RetryPolicy()
        self.timeout = timeout
        self.session = session or new_session()
        self.batch_size = batch_size
        self.search_cap = search_cap
        self.in_flight = in_flight
        self._auth = _BearerAuth(token)
        self._sleep = sleep
        self._lock = threading.Lock()
        self.counters: Counter[str] = Counter()

    def __repr__(self) -> str:
        return f"CrmClient({self.base_url!r}, account={self.account!r})"

    # -- plumbing ---------------------------------------------------------------------
    def _count(self, key: str, n: int = 1) -> None:
        with self._lock:
            self.counters[key] += n

    def stats(self) -> dict[str, int]:
        """Counters for benchmarks: requests, status:<code>, transport:<error>, retries..."""
        with self._lock:
            return dict(self.counters)

    def _observe(self, response: requests.Response) -> None:
        headers = response.headers
        try:
            limit = int(headers["X-HubSpot-RateLimit-Max"])
            remaining = int(headers["X-HubSpot-RateLimit-Remaining"])
            interval = int(headers.get("X-HubSpot-RateLimit-Interval-Milliseconds", "10000"))
        except (KeyError, ValueError):
            return
        self.budget.observe(self.account, limit, remaining, interval)

    def _call(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: Mapping[str, str] | None = None,
        idempotent: bool,
        what: str,
    ) -> requests.Response:
        """One request through the retry policy; each attempt spends a slot of the budget."""
        url = self.base_url + path

        def attempt() -> requests.Response:
            self.budget.acquire(self.account)
            self._count("requests")
            try:
                response = self.session.request(
                    method, url, json=body, params=params, timeout=self.timeout, auth=self._auth
                )
            except requests.RequestException as exc:
                self._count(f"transport:{exc.__class__.__name__}")
                # a dropped connection after sending a create is an unknown outcome (http.py)
                err = translate_transport_error(exc, system=SYSTEM, url=url, idempotent=idempotent)
                err.message = f"{what}: {err.message}"
                raise err from exc
            self._count(f"status:{response.status_code}")
            self._observe(response)
            if response.status_code >= 400:
                failure = classify_status(
                    response, system=SYSTEM, idempotent=idempotent, detail=_error_text(response)
                )
                if failure is not None:
                    failure.message = f"{what}: {failure.message}"
                    raise failure
            return response

        def on_retry(exc: BaseException, attempt: int) -> None:
            self._count("retries")
            if isinstance(exc, HubError) and exc.code == "429":
                self._count("rate_limited")

        return with_retries(attempt, self.policy, on_retry=on_retry, sleep=self._sleep)

    def _parse(self, response: requests.Response, model: type[M], what: str) -> M:
        try:
            return model.model_validate_json(response.content)
        except ValidationError as exc:
            raise PermanentError(
                f"{what}: the CRM answered {response.status_code} with a body that does not "
                f"match the HubSpot contract ({exc.error_count()} errors, first: "
                f"{exc.errors()[0]['msg']} at {exc.errors()[0]['loc']})",
                system=SYSTEM,
            ) from exc

    def _post_all(self, path: str, bodies: Sequence[tuple[Any, str]], model: type[M]) -> list[M]:
        """POST each (body, what) to ``path`` (idempotent calls), ``in_flight`` at a time so
        the request budget, not each answer's latency, sets the pace; answers in order."""

        def one(item: tuple[Any, str]) -> M:
            body, what = item
            response = self._call("POST", path, body=body, idempotent=True, what=what)
            return self._parse(response, model, what)

        if self.in_flight < 2 or len(bodies) < 2:
            return [one(item) for item in bodies]
        with ThreadPoolExecutor(self.in_flight, thread_name_prefix="crm-batch") as pool:
            return list(pool.map(one, bodies))

    @staticmethod
    def _object_type(object_type: str) -> str:
        if object_type not in OBJECT_TYPES:
            raise ValueError(f"unknown CRM object type {object_type!r}; use one of {OBJECT_TYPES}")
        return object_type

    # -- objects v3 -------------------------------------------------------------------
    def upsert(self, object_type: str, records: Mapping[str, Mapping[str, Any]]) -> UpsertOutcome:
        """Create or update ``{erp_id: properties}`` by the id property, 100 per call.

        Idempotent (retried on 5xx/timeouts). A 207 is split: successes with their CRM id,
        failures with the ERP id, the CRM's message and the offending field.
        """
        kind = self._object_type(object_type)
        outcome = UpsertOutcome()
        chunks = list(_chunks(list(records.items()), self.batch_size))
        bodies = [
            ({"inputs": [
                {"id": erp_id, "idProperty": self.id_property, "objectWriteTraceId": erp_id,
                 "properties": {k: wire_value(v) for k, v in props.items()}}
                for erp_id, props in chunk
            ]}, f"crm upsert of {len(chunk)} {kind} by {self.id_property}")
            for chunk in chunks
        ]  # fmt: skip
        path = f"/crm/v3/objects/{path_segment(kind)}/batch/upsert"
        answers = self._post_all(path, bodies, WireBatchResponse)
        for chunk, batch in zip(chunks, answers, strict=True):
            answered: set[str] = set()
            for wire in batch.results:
                record = CrmRecord.from_wire(kind, wire, self.id_property)
                erp_id = wire.object_write_trace_id or record.erp_id
                if erp_id is None:
                    continue
                answered.add(erp_id)
                outcome.succeeded.append(UpsertSuccess(erp_id, wire.id, bool(wire.new), record))
            for error in batch.errors:
                ids: Sequence[str | None] = error_ids(error) or [None]
                for erp_id in ids:
                    if erp_id is not None:
                        answered.add(erp_id)
                    outcome.failed.append(failure_from_wire(error, erp_id))
            for erp_id, _ in chunk:
                if erp_id not in answered:
                    outcome.failed.append(
                        RecordFailure(
                            erp_id,
                            "NO_RESULT",
                            f"the CRM returned no result for {kind} {self.id_property}="
                            f"{erp_id}: upsert it again",
                        )
                    )
        return outcome

    def read_batch(
        self, object_type: str, ids: list[str], names: list[str], by_id_property: bool
    ) -> ReadOutcome:
        """Batch read by ERP id (the id property) or by CRM id, 100 per call."""
        kind, props = object_type, names
        outcome = ReadOutcome()
        chunks = list(_chunks(ids, self.batch_size))
        by = {"idProperty": self.id_property} if by_id_property else {}
        bodies = [
            ({"inputs": [{"id": i} for i in chunk], "properties": props,
              "propertiesWithHistory": [], **by}, f"crm batch read of {len(chunk)} {kind}")
            for chunk in chunks
        ]  # fmt: skip
        path = f"/crm/v3/objects/{path_segment(kind)}/batch/read"
        for chunk, batch in zip(chunks, self._post_all(path, bodies, WireBatchResponse),
                                strict=True):  # fmt: skip
            for wire in batch.results:
                record = CrmRecord.from_wire(kind, wire, self.id_property)
                key = record.erp_id if by_id_property else record.crm_id
                if key is not None:
                    outcome.found[key] = record
            outcome.missing.extend(i for i in chunk if i not in outcome.found)
        return outcome

    def get(
        self,
        object_type: str,
        id_value: str,
        *,
        properties: Sequence[str] = (),
        by_id_property: bool = True,
    ) -> CrmRecord | None:
        """One record by ERP id (id property) or CRM id; None when the CRM does not know it."""
        kind = self._object_type(object_type)
        params = {"properties": ",".join(dict.fromkeys([*properties, self.id_property]))}
        if by_id_property:
            params["idProperty"] = self.id_property
        what = f"crm read of {kind} {id_value}"
        try:
            response = self._call(
                "GET",
                f"/crm/v3/objects/{path_segment(kind)}/{quote(id_value, safe='')}",
                params=params,
                idempotent=True,
                what=what,
            )
        except PermanentError as exc:
            if exc.code == "404":
                return None
            raise
        return CrmRecord.from_wire(kind, self._parse(response, WireObject, what), self.id_property)

    def update(
        self,
        object_type: str,
        id_value: str,
        properties: Mapping[str, Any],
        *,
        by_id_property: bool = True,
    ) -> CrmRecord:
        """PATCH one record found by ERP id, or by CRM id (setting values twice is harmless)."""
        kind = self._object_type(object_type)
        by = self.id_property if by_id_property else "hs_object_id"
        what = f"crm update of {kind} {by}={id_value}"
        response = self._call(
            "PATCH",
            f"/crm/v3/objects/{path_segment(kind)}/{quote(id_value, safe='')}",
            params={"idProperty": by},
            body={"properties": {k: wire_value(v) for k, v in properties.items()}},
            idempotent=True,
            what=what,
        )
        return CrmRecord.from_wire(kind, self._parse(response, WireObject, what), self.id_property)

    def create(self, object_type: str, erp_id: str, properties: Mapping[str, Any]) -> CreateResult:
        """Create one record holding ``erp_id`` in the id property; never a blind repeat.

        After an unknown outcome (500/504, read timeout, connection dropped after sending)
        the record is looked up by its id property: found means the first attempt worked.
        A 409 (the id property value exists already) returns the existing record.
        """
        kind = self._object_type(object_type)
        body = {
            "properties": {
                **{k: wire_value(v) for k, v in properties.items()},
                self.id_property: erp_id,
            },
            "associations": [],
        }
        what = f"crm create of {kind} {self.id_property}={erp_id}"
        last: HubError | None = None
        for _ in range(self.policy.attempts):
            try:
                response = self._call(
                    "POST",
                    f"/crm/v3/objects/{path_segment(kind)}",
                    body=body,
                    idempotent=False,
                    what=what,
                )
            except OutcomeUnknownError as exc:
                self._count("reconciliations")
                log.info("%s: outcome unknown, looking it up before any retry", what)
                existing = self.get(kind, erp_id, properties=list(properties))
                if existing is not None:
                    return CreateResult(existing, created=True)
                last = exc
                continue
            except PermanentError as exc:
                if exc.code != "409":
                    raise
                self._count("reconciliations")
                existing = self.get(kind, erp_id, properties=list(properties))
                if existing is None:
                    raise
                return CreateResult(existing, created=False)
            wire = self._parse(response, WireObject, what)
            return CreateResult(CrmRecord.from_wire(kind, wire, self.id_property), created=True)
        raise OutcomeUnknownError(
            f"{what}: still unknown after {self.policy.attempts} attempts, each reconciled "
            f"by looking up {self.id_property}; last error: {last}",
            system=SYSTEM,
        )

    def search_modified_since(
        self,
        object_type: str,
        since: datetime | int | None = None,
        *,
        properties: Sequence[str] = (),
        page_size: int = 100,
    ) -> Iterator[CrmRecord]:
        """Every record modified at or after ``since``, oldest first, across any volume.

        HubSpot caps one search at 10,000 results, so before paging past the cap the filter
        restarts at the last timestamp seen (GTE) and skips ids already yielded at that
        timestamp. Records at exactly ``since`` are yielded again (at-least-once).
        """
        kind = self._object_type(object_type)
        if not 1 <= page_size <= SEARCH_PAGE_MAX:
            raise ValueError(f"crm search page_size must be 1..{SEARCH_PAGE_MAX}")
        prop = MODIFIED_PROPERTY[kind]
        props = list(dict.fromkeys([*properties, self.id_property, prop]))
        lower = to_epoch_ms(since) if since is not None else 0
        seen_at_lower: set[str] = set()
        while True:
            after = 0
            last_ms: int | None = None
            ids_at_last: set[str] = set()
            while True:
                body = {
                    "filterGroups": [
                        {
                            "filters": [
                                {"propertyName": prop, "operator": "GTE", "value": str(lower)}
                            ]
                        }
                    ],
                    "sorts": [prop],
                    "properties": props,
                    "limit": page_size,
                    "after": str(after),
                }
                what = f"crm search of {kind} modified since {lower} (after {after})"
                response = self._call(
                    "POST",
                    f"/crm/v3/objects/{path_segment(kind)}/search",
                    body=body,
                    idempotent=True,
                    what=what,
                )
                page = self._parse(response, WireSearchResponse, what)
                for wire in page.results:
                    record = CrmRecord.from_wire(kind, wire, self.id_property)
                    modified = record.modified_at
                    ms = to_epoch_ms(modified) if modified else lower
                    if ms == lower and record.crm_id in seen_at_lower:
                        continue
                    if ms != last_ms:
                        last_ms, ids_at_last = ms, set()
                    ids_at_last.add(record.crm_id)
                    yield record
                nxt = page.paging.next.after if page.paging and page.paging.next else None
                if nxt is None:
                    return
                after = int(nxt)
                if after + page_size > self.search_cap:
                    break
            if last_ms is None or last_ms == lower:
                raise PermanentError(
                    f"crm search of {kind}: more than {self.search_cap} records share "
                    f"{prop}={lower}; the GTE window cannot advance. Narrow the search "
                    "(e.g. by another property) or lower the page size",
                    system=SYSTEM,
                )
            seen_at_lower, lower = ids_at_last, last_ms

    def list_records(
        self, object_type: str, *, properties: Sequence[str] = (), archived: bool = False
    ) -> Iterator[CrmRecord]:
        """Every record by CRM id through ``GET /crm/v3/objects/{type}``, 100 a page."""
        kind = self._object_type(object_type)
        props = ",".join(dict.fromkeys([*properties, self.id_property]))
        after: str | None = None
        while True:
            params = {"limit": str(self.batch_size), "properties": props}
            params["archived"] = "true" if archived else "false"
            if after is not None:
                params["after"] = after
            what = f"crm list of {kind} (after {after})"
            response = self._call(
                "GET", f"/crm/v3/objects/{path_segment(kind)}", params=params,
                idempotent=True, what=what,
            )  # fmt: skip
            page = self._parse(response, WireListResponse, what)
            for wire in page.results:
                yield CrmRecord.from_wire(kind, wire, self.id_property)
            after = page.paging.next.after if page.paging and page.paging.next else None
            if after is None:
                return

    def pipelines(self, object_type: str) -> list[Pipeline]:
        """``GET /crm/v3/pipelines/{objectType}``: pipelines and their live stages."""
        kind = self._object_type(object_type)
        what = f"crm pipelines of {kind}"
        response = self._call("GET", f"/crm/v3/pipelines/{kind}", idempotent=True, what=what)
        return [Pipeline.from_wire(p) for p in self._parse(response, WirePipelines, what).results]

    # -- associations v4 --------------------------------------------------------------
    def associate(
        self,
        from_type: str,
        to_type: str,
        pairs: Iterable[tuple[str, str]],
        *,
        type_id: int | None = None,
        category: str = "HUBSPOT_DEFINED",
    ) -> AssociationOutcome:
        """Associate (from CRM id, to CRM id) pairs, 100 per call; repeating one is a no-op."""
        src, dst = self._object_type(from_type), self._object_type(to_type)
        type_id = type_id if type_id is not None else ASSOCIATION_TYPE_IDS.get((src, dst))
        if type_id is None:
            raise ValueError(f"no default association type from {src} to {dst}: pass type_id")
        outcome = AssociationOutcome()
        spec = {"associationCategory": category, "associationTypeId": type_id}
        bodies = [
            ({"inputs": [{"from": {"id": f}, "to": {"id": t}, "types": [spec]} for f, t in chunk]},
             f"crm association of {len(chunk)} {src} to {dst}")
            for chunk in _chunks(list(dict.fromkeys(pairs)), self.batch_size)
        ]  # fmt: skip
        path = f"/crm/v4/associations/{src}/{dst}/batch/create"
        for batch in self._post_all(path, bodies, WireAssociationBatch):
            outcome.created.extend((r.from_object_id, r.to_object_id) for r in batch.results)
            for error in batch.errors:
                rids: Sequence[str | None] = error_ids(error) or [None]
                for rid in rids:
                    outcome.failed.append(failure_from_wire(error, rid))
        return outcome

    def associations(
        self, from_type: str, to_type: str, ids: Iterable[str]
    ) -> dict[str, list[str]]:
        """CRM ids associated to each of ``ids`` (batch read; ids without any are left out)."""
        src, dst = self._object_type(from_type), self._object_type(to_type)
        out: dict[str, list[str]] = {}
        bodies = [
            ({"inputs": [{"id": i} for i in chunk]},
             f"crm association read of {len(chunk)} {src} to {dst}")
            for chunk in _chunks(list(dict.fromkeys(ids)), self.batch_size)
        ]  # fmt: skip
        path = f"/crm/v4/associations/{src}/{dst}/batch/read"
        for batch in self._post_all(path, bodies, WireAssociationReadBatch):
            for item in batch.results:
                out[item.from_.id] = sorted(t.to_object_id for t in item.to)
        return out


def _error_text(response: requests.Response) -> str:
    """The CRM's own message (and category) from an error body, for the hub's error."""
    try:
        data = response.json()
    except ValueError:
        return (response.text or "")[:300]
    if not isinstance(data, dict):
        return str(data)[:300]
    category = data.get("category") or data.get("errorType") or ""
    message = str(data.get("message") or "")[:300]
    return f"{category}: {message}" if category else message
