"""The flow registry: one descriptor per flow, read by `hub run`, dry runs, backfills, status,
metrics and the DAGs alike (no signature discovery, no parallel registries).

A descriptor names the function to run (imported on first use, so DAG files stay light),
its parameters with their types, the preview (dry run) and backfill it supports, the cursor
streams it keeps and the systems it writes to. Parameters from the CLI (``-p k=v``) or a
DAG run's conf are parsed here: an unknown name or a bad value is a ``PermanentError`` that
names the flow, the parameter and the fix (Airflow does not retry it).
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

from schemas.errors import PermanentError

FlowFunc = Callable[..., dict[str, Any]]
ParamType = Literal["int", "str", "bool", "list", "iso"]


@dataclass(frozen=True)
class Param:
    """One parameter a flow accepts, as text from a CLI or a DAG conf."""

    name: str
    type: ParamType
    help: str
    default: Any = None

    def parse(self, flow: str, raw: Any) -> Any:
        """The typed value of ``raw``, or a PermanentError naming flow, parameter and fix."""
        if raw is None:
            return None
        try:
            return _PARSERS[self.type](raw)
        except (TypeError, ValueError) as exc:
            raise PermanentError(
                f"flow {flow!r}: parameter {self.name}={raw!r} is not {_WHAT[self.type]} "
                f"({self.help})",
                system="hub",
            ) from exc


def _to_int(raw: Any) -> int:
    if isinstance(raw, bool):
        raise ValueError("a bool is not a count")
    value = int(str(raw).strip().replace("_", ""))
    if value < 0:
        raise ValueError("negative")
    return value


def _to_bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off", ""):
        return False
    raise ValueError(text)


def _to_list(raw: Any) -> list[str]:
    if isinstance(raw, list | tuple):
        return [str(v).strip() for v in raw if str(v).strip()]
    return [v.strip() for v in str(raw).split(",") if v.strip()]


def _to_iso(raw: Any) -> str:
    from datetime import datetime

    text = str(raw).strip()
    datetime.fromisoformat(text)
    return text


_PARSERS: dict[str, Callable[[Any], Any]] = {
    "int": _to_int,
    "str": lambda raw: str(raw),
    "bool": _to_bool,
    "list": _to_list,
    "iso": _to_iso,
}
_WHAT = {
    "int": "a whole number >= 0",
    "str": "text",
    "bool": "true or false",
    "list": "a comma-separated list",
    "iso": "an ISO date or timestamp such as 2026-11-01 or 2026-11-01T08:00:00+01:00",
}

PARTNER = Param("partner", "str", "a partner id from config/partners/*.yaml")
DRY_RUN = Param("dry_run", "bool", "read, validate and transform; write nothing", False)
WINDOW = (
    Param("since", "iso", "backfill: read the source from here instead of the live cursor"),
    Param("until", "iso", "backfill: stop at records changed at or after this instant"),
    Param("cursor_stream", "str", "backfill: the cursor stream to advance instead of the live one"),
)


@dataclass(frozen=True)
class FlowDescriptor:
    """Everything the engine, the CLI, ops and the DAGs need to know about one flow."""

    name: str
    run: str  # "module:function", called as function(hub, **params)
    summary: str
    params: tuple[Param, ...] = ()
    writes: tuple[str, ...] = ()  # the systems it causes side effects in
    streams: tuple[str, ...] = ()  # cursor streams (prefixes) it keeps
    preview: str | None = None  # "module:function" for a dry run, "self" if it takes dry_run
    backfill: str | None = None  # "cursor" (takes since/until/cursor_stream) or "module:function"
    per_partner: bool = False  # runs and reports per trading partner
    dag: str | None = None  # the DAG that schedules it
    extras: Mapping[str, Any] = field(default_factory=dict)

    def function(self) -> FlowFunc:
        """The flow's function (its module imported now)."""
        return _load(self.run)

    def param(self, name: str) -> Param | None:
        """A parameter by name."""
        return next((p for p in self.params if p.name == name), None)

    def parse_params(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        """Typed parameters from text; unknown names are refused with the known ones."""
        parsed: dict[str, Any] = {}
        for name, value in raw.items():
            param = self.param(name)
            if param is None and name == DRY_RUN.name:
                param = DRY_RUN  # every flow takes it: run_flow routes it to the preview
            if param is None:
                known = [p.name for p in self.params]
                close = difflib.get_close_matches(name, known, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise PermanentError(
                    f"flow {self.name!r} has no parameter {name!r}{hint} "
                    f"(known: {', '.join(known) or 'none'})",
                    system="hub",
                )
            parsed[name] = param.parse(self.name, value)
        return parsed

    @property
    def supports_dry_run(self) -> bool:
        """Whether ``hub run --dry-run`` works for it."""
        return self.preview is not None

    @property
    def supports_backfill(self) -> bool:
        """Whether ``hub backfill`` works for it."""
        return self.backfill is not None


def _load(target: str) -> FlowFunc:
    module, _, func = target.partition(":")
    return getattr(importlib.import_module(module), func)


def load_target(target: str) -> FlowFunc:
    """A ``module:function`` target (previews, backfills)."""
    return _load(target)


_INBOUND_PARAMS = (PARTNER, Param("max_files", "int", "files per partner per run", 200))
_BATCHING = (
    Param("batch_size", "int", "messages per ERP batch (one journal commit each)", 500),
    Param("concurrency", "int", "ERP batches in flight at once per ERP connection", 1),
)
_PUSH_STREAMS = ("crm.push.",)
# the CRM objects whose webhooks triggered the run (hub/webhooks): the pull reads them by id
CHANGES = Param(
    "changes", "list", "CRM objects named by webhooks, as type:id (e.g. companies:1003): read by id"
)
_PUSH_PARAMS = (
    Param("sale_ids", "list", "ERP sale ids to push as deals as well"),
    Param("page_size", "int", "parties per page"),
)


def _cursor_flow(
    name: str, run: str, summary: str, params: tuple[Param, ...], **more: Any
) -> FlowDescriptor:
    """A flow that reads its sources by cursor: it previews itself (``dry_run``) and
    backfills a window of its cursor streams (``since``/``until``/``cursor_stream``)."""
    return FlowDescriptor(
        name, run, summary, (*params, DRY_RUN, *WINDOW), preview="self", backfill="cursor", **more
    )


_BUILTIN: tuple[FlowDescriptor, ...] = (
    FlowDescriptor(
        "erp_reference_check",
        "hub.flows.erp_reference:erp_reference_check",
        "counts products, GTINs, customers' GLN/VAT and stock in the ERP",
        (Param("max_parties", "int", "parties to read at most", 100_000),),
        dag="erp_reference_check",
    ),
    FlowDescriptor(
        "edi_orders_inbound",
        "hub.flows.edi_inbound:edi_orders_inbound",
        "partners' EDIFACT ORDERS become ERP sales, acknowledged with CONTRL/APERAK/ORDRSP",
        (*_INBOUND_PARAMS, *_BATCHING),
        writes=("erp", "edi"),
        preview="hub.flows.edi_inbound_replay:preview_inbox",
        backfill="hub.flows.edi_inbound_replay:backfill",
        per_partner=True,
        dag="edi_orders_inbound",
    ),
    _cursor_flow(
        "edi_documents_outbound",
        "hub.flows.edi_outbound:edi_documents_outbound",
        "DESADV, INVOIC and INVRPT from the ERP to partners' outboxes",
        (
            PARTNER,
            Param("documents", "list", "document types, e.g. DESADV,INVOIC"),
            Param("as_of", "iso", "INVRPT: the period to report"),
            Param("limit", "int", "records per stream per run", 200),
        ),
        writes=("edi",),
        streams=("edi.out:",),
        per_partner=True,
        dag="edi_documents_outbound",
    ),
    _cursor_flow(
        "logistics_shipments",
        "hub.flows.logistics:ship_ready_shipments",
        "ready ERP shipments booked with the carrier; labels archived; tracking to the ERP",
        (
            Param("max_shipments", "int", "shipments to read at most", 10_000),
            Param("batch_size", "int", "shipments read per ERP call"),
        ),
        writes=("carrier", "erp"),
        streams=("logistics.shipments",),
        dag="logistics_sync",
    ),
    FlowDescriptor(
        "logistics_tracking",
        "hub.flows.logistics:track_open_shipments",
        "carrier tracking statuses of open shipments back to the ERP",
        (
            Param("batch_size", "int", "tracking numbers per carrier call"),
            Param("max_shipments", "int", "shipments to track at most", 100_000),
        ),
        writes=("erp",),
        dag="logistics_sync",
    ),
    _cursor_flow(
        "crm_push",
        "hub.flows.crm_sync:crm_push",
        "ERP parties, products, sales and invoices to the CRM",
        _PUSH_PARAMS,
        writes=("crm",),
        streams=_PUSH_STREAMS,
        dag="crm_sync",
    ),
    _cursor_flow(
        "crm_pull",
        "hub.flows.crm_sync:crm_pull",
        "CRM companies and contacts to ERP parties, by field ownership",
        (CHANGES,),
        writes=("erp", "crm"),
        streams=("crm.pull.",),
        dag="crm_sync",
    ),
    _cursor_flow(
        "crm_sync",
        "hub.flows.crm_sync:crm_sync",
        "crm_push then crm_pull",
        (*_PUSH_PARAMS, CHANGES),
        writes=("crm", "erp"),
        streams=(*_PUSH_STREAMS, "crm.pull."),
        dag="crm_sync",
    ),
    FlowDescriptor(
        "einvoice_outbound",
        "hub.flows.einvoice:einvoice_outbound",
        "posted invoices as XRechnung/PEPPOL/ZUGFeRD e-invoices, validated, sent exactly once",
        (
            Param("customer", "str", "only this customer (its party in config/einvoice.yaml)"),
            Param("limit", "int", "invoices per ERP read", 200),
            Param("since", "iso", "re-read the ERP from here (documents sent are skipped)"),
            DRY_RUN,
        ),
        writes=("edi", "smtp"),
        streams=("einvoice.out",),
        preview="self",
        dag="einvoice_outbound",
    ),
)

REGISTRY: dict[str, FlowDescriptor] = {d.name: d for d in _BUILTIN}


def descriptor(name: str) -> FlowDescriptor:
    """The descriptor of a flow; an unknown name lists the known ones."""
    try:
        return REGISTRY[name]
    except KeyError:
        close = difflib.get_close_matches(name, list(REGISTRY), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise PermanentError(
            f"unknown flow {name!r}{hint}; known flows: {', '.join(sorted(REGISTRY))}",
            system="hub",
        ) from None


def register(flow: FlowDescriptor) -> None:
    """Add a flow (a flow module of a later feature); a name is registered once."""
    if flow.name in REGISTRY and REGISTRY[flow.name] != flow:
        raise PermanentError(f"flow {flow.name!r} is already registered", system="hub")
    REGISTRY[flow.name] = flow


@contextmanager
def registered(flow: FlowDescriptor) -> Iterator[FlowDescriptor]:
    """Register a flow for the duration of a block (tests leave no registration behind)."""
    before = REGISTRY.get(flow.name)
    REGISTRY[flow.name] = flow
    try:
        yield flow
    finally:
        if before is None:
            REGISTRY.pop(flow.name, None)
        else:
            REGISTRY[flow.name] = before


def stream_owner(stream: str) -> str | None:
    """The flow that keeps a cursor stream (status groups cursors by flow)."""
    for flow in REGISTRY.values():
        if any(stream.startswith(prefix) for prefix in flow.streams):
            return flow.name
    return None
