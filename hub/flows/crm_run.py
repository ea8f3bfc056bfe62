"""What a crm_push or crm_pull run shares: names, run state, dry-run CRM, dead letters, commit.

A page's bindings, the dead letters of its refused records and its cursor are written by
``commit`` in one ledger transaction; in a dry run (``run.would`` set) nothing is written
and what would have been is recorded instead.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from connectors.crm import models as cm
from connectors.crm.port import CrmPort
from hub.ledger.bindings import Binding, BindRow, as_binding
from hub.ledger.cursors import Cursor
from hub.ledger.journal import Outcome, Status
from schemas.crm_config import CrmConfig
from schemas.errors import HubError, PermanentError, TransientError

if TYPE_CHECKING:
    from connectors.erp.port import ErpPort
    from hub.bootstrap import Hub
    from hub.ledger import Ledger

FLOW_PUSH = "crm_push"
FLOW_PULL = "crm_pull"
SYSTEM = "crm"
STREAM_PARTIES = "crm.push.parties"
STREAM_INVOICES = "crm.push.invoices"
STREAM_SALES = "crm.push.sales"
STREAM_PULL = {
    "companies": "crm.pull.companies", "contacts": "crm.pull.contacts", "deals": "crm.pull.deals",
}  # fmt: skip
# binding entities (system "crm"): external id = CRM id, erp id = ERP key
COMPANY, COMPANY_CRM, CONTACT = "company", "company.crm", "contact"
PRODUCT, DEAL, DEAL_INVOICE, LINE_ITEM = "product", "deal", "deal.invoice", "line_item"
QUOTE, DEAL_DELIVERY, DEAL_WON = "quote", "deal.delivery", "deal.won"
DRY = "dry-run:"  # prefix of the ids a dry run stands in for records it would create


@dataclass(frozen=True)
class Window:
    """A backfill: read from ``since`` (or where this backfill stopped) up to ``until``."""

    since: datetime
    until: datetime | None
    stream: str

    def stream_for(self, live: str) -> str:
        """The backfill's own cursor stream standing in for the live stream ``live``."""
        return f"{self.stream}|{live}"


def window(since: str | None, until: str | None, cursor_stream: str | None) -> Window | None:
    """The backfill window of a run's parameters (None: a live run)."""
    if since is None and cursor_stream is None:
        return None
    if since is None or cursor_stream is None:
        raise PermanentError(
            "a backfill needs both since and cursor_stream (hub backfill passes them); "
            "running with since alone would move the live cursor",
            system="hub",
        )
    return Window(_aware(since), _aware(until) if until else None, cursor_stream)


def _aware(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@dataclass
class Run:
    """One crm_push or crm_pull run: the hub, config, CRM, counts, dead letters, dry-run log."""

    hub: Hub
    config: CrmConfig
    crm: CrmPort
    counts: Counter[str] = field(default_factory=Counter)
    dead: list[dict[str, str]] = field(default_factory=list)
    window: Window | None = None
    would: dict[str, dict[str, list[Any]]] | None = None  # set: a dry run, nothing is written
    dry_bound: dict[str, dict[str, Binding]] = field(default_factory=dict)

    @property
    def ledger(self) -> Ledger:
        return self.hub.ledger

    @property
    def erp(self) -> ErpPort:
        return self.hub.erp

    def cursor(self, live: str) -> Cursor:
        """The live stream's cursor, or the backfill's own one with the window."""
        if self.window is None:
            return self.ledger.load_cursor(live)
        return self.ledger.load_cursor(
            self.window.stream_for(live), start=self.window.since, end=self.window.until
        )


def would(run: Run, system: str, action: str, items: Iterable[Any]) -> None:
    """Record what a dry run would have written."""
    assert run.would is not None
    run.would.setdefault(system, {}).setdefault(action, []).extend(items)


class DryCrm(CrmPort):
    """The CRM during a dry run: reads go through, writes are recorded and answered as done."""

    def __init__(self, crm: CrmPort, run: Run) -> None:
        self._crm = crm
        self._run = run
        self.id_property = crm.id_property

    def upsert(
        self, object_type: str, records: Mapping[str, Mapping[str, Any]]
    ) -> cm.UpsertOutcome:
        would(self._run, SYSTEM, f"upsert {object_type}", records)
        return cm.UpsertOutcome(
            succeeded=[
                cm.UpsertSuccess(
                    erp_id, f"{DRY}{erp_id}", True,
                    cm.CrmRecord(object_type, f"{DRY}{erp_id}", dict(props), erp_id),
                )
                for erp_id, props in records.items()
            ]
        )  # fmt: skip

    # reads go through as they are (keyword options passed on unchanged)
    def read_batch(
        self, object_type: str, ids: list[str], names: list[str], by_id_property: bool
    ) -> cm.ReadOutcome:
        return self._crm.read_batch(object_type, ids, names, by_id_property)

    def search_modified_since(
        self, object_type: str, since: datetime | int | None = None, **options: Any
    ) -> Iterator[cm.CrmRecord]:
        return self._crm.search_modified_since(object_type, since, **options)

    def associate(
        self, from_type: str, to_type: str, pairs: Iterable[tuple[str, str]]
    ) -> cm.AssociationOutcome:
        would(self._run, SYSTEM, f"associate {from_type} to {to_type}", pairs)
        return cm.AssociationOutcome()

    def associations(
        self, from_type: str, to_type: str, ids: Iterable[str]
    ) -> dict[str, list[str]]:
        return self._crm.associations(from_type, to_type, ids)

    def update(
        self, object_type: str, id_value: str, properties: Mapping[str, Any], **options: Any
    ) -> cm.CrmRecord:
        would(self._run, SYSTEM, f"update {object_type}", [{id_value: dict(properties)}])
        return cm.CrmRecord(object_type, id_value, dict(properties))

    def list_records(self, object_type: str, **options: Any) -> Iterator[cm.CrmRecord]:
        return self._crm.list_records(object_type, **options)

    def pipelines(self, object_type: str) -> list[cm.Pipeline]:
        return self._crm.pipelines(object_type)

    def stats(self) -> dict[str, int]:
        return self._crm.stats()


@dataclass
class Letter:
    """A dead letter a page will file with its commit."""

    flow: str
    key: str
    reason: str
    error_class: str
    payload: Any = None


def _file(run: Run, conn: Any, letters: Iterable[Letter]) -> None:
    for letter in letters:
        run.counts["dead_letters"] += 1
        if run.would is not None:
            would(run, "ledger", "dead_letters", [f"{letter.key}: {letter.reason}"])
            continue
        run.ledger.dead_letter(
            letter.flow, letter.key, letter.reason, error_class=letter.error_class,
            payload=letter.payload, system=SYSTEM, conn=conn,
        )  # fmt: skip
        if len(run.dead) < 50:
            run.dead.append({"record": letter.key, "reason": letter.reason})


def commit(
    run: Run,
    flow: str,
    rows: list[BindRow],
    letters: list[Letter],
    cursor: Cursor | None = None,
    events: Callable[[Any, list[BindRow]], None] | None = None,
) -> list[BindRow]:
    """Bindings, dead letters, cursor (and trace events) in one ledger transaction; in a dry
    run only what would be written is recorded. Returns the rows refused as conflicts."""
    if run.would is not None:
        _file(run, None, letters)
        for row in rows:
            run.dry_bound.setdefault(row.entity, {})[row.erp_id] = as_binding(SYSTEM, row)
        if cursor is not None and cursor.dirty and cursor.position is not None:
            would(run, "ledger", "cursor", [f"{cursor.stream}={cursor.position[0]}"])
        return []
    with run.ledger.transaction() as conn:
        conflicts = run.ledger.bind_many(SYSTEM, rows, conn=conn)
        _file(run, conn, letters + [_conflict_letter(flow, row) for row in conflicts])
        if cursor is not None:
            cursor.commit(run.ledger, conn=conn)
        if events is not None:
            events(conn, [r for r in rows if r not in conflicts])
    return conflicts


def _conflict_letter(flow: str, row: BindRow) -> Letter:
    return Letter(
        flow, f"{row.entity}:{row.external_id}",
        f"CRM {row.entity} {row.external_id} is already bound to another ERP record than "
        f"{row.erp_id}: merge the duplicates in the CRM, then replay",
        "ConflictError",
    )  # fmt: skip


def bound(run: Run, entity: str) -> dict[str, Binding]:
    """The ledger's bindings of ``entity``, plus those a dry run would have written."""
    found = run.ledger.bindings_for(SYSTEM, entity)
    found.update(run.dry_bound.get(entity, {}))
    return found


def failure_letter(flow: str, kind: str, failure: cm.RecordFailure, payload: Any) -> Letter:
    """The dead letter of a record the CRM refused."""
    where = f" (field {failure.field})" if failure.field else ""
    return Letter(
        flow, f"{kind}:{failure.erp_id}",
        f"the CRM refused {kind} {failure.erp_id}{where}: {failure.category}: {failure.message}",
        failure.category, payload,
    )  # fmt: skip


def invalid_letter(kind: str, rec: cm.CrmRecord, exc: HubError) -> Letter:
    """The dead letter of a CRM record the ERP cannot take (invalid, ambiguous, unlinkable)."""
    field_name = getattr(exc, "field", None)
    prefix = f"field {field_name}: " if field_name else ""
    return Letter(
        FLOW_PULL, f"{kind}:{rec.crm_id}",
        f"CRM {kind} {rec.crm_id}: {prefix}{getattr(exc, 'reason', None) or exc.message}",
        exc.__class__.__name__, rec.properties,
    )  # fmt: skip


RUN_OPTIONS = ("dry_run", "since", "until", "cursor_stream")  # what every CRM flow takes


def start(
    hub: Hub,
    config: CrmConfig | None,
    *,
    dry_run: bool | str = False,
    since: str | None = None,
    until: str | None = None,
    cursor_stream: str | None = None,
) -> Run:
    """A run on the hub's CRM (a recording ``DryCrm`` around it in a dry run); ``since``/
    ``until``/``cursor_stream``: a backfill window (see ``window``)."""
    if config is None:
        from hub.flows.crm_config import load_config

        config = load_config()
    run = Run(hub, config, hub.crm, window=window(since, until, cursor_stream))
    if dry_run is True or str(dry_run).lower() in ("true", "1", "yes"):
        run.would = {}
        run.crm = DryCrm(run.crm, run)
    return run


def report(run: Run, direction: str) -> dict[str, Any]:
    """The run's report: status, window, direction, counts, CRM requests, dead letters."""
    out: dict[str, Any] = {"status": "ok" if not run.counts["dead_letters"] else "partial"}
    if run.would is not None:
        out = {"status": "dry_run", "would": run.would}
    if run.window is not None:
        out["window"] = {
            "since": run.window.since.isoformat(),
            "until": run.window.until.isoformat() if run.window.until else None,
            "cursor_stream": run.window.stream,
        }
    out["direction"] = direction
    out.update(sorted(run.counts.items()))
    out["crm_requests"] = run.crm.stats().get("requests", 0)
    if run.dead:
        out["details"] = run.dead
    return out


def once_result(outcome: Outcome[Any], what: str, look_up: str) -> str:
    """The ERP id a journaled create returned, else the error to raise: an unknown outcome
    is transient (the next run ``look_up``s first), any other as the journal had it."""
    if outcome.ok and outcome.result:
        return str(outcome.result)
    if outcome.status is Status.UNKNOWN:
        raise TransientError(
            f"creating {what}: the outcome is unknown ({outcome.error}); the next run {look_up}",
            system="erp",
        )
    raise outcome.error or PermanentError(
        f"{what} was not created ({outcome.status})", system="erp"
    )
