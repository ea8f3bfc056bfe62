"""INVRPT on the partner's schedule: the stock per GTIN once per schedule period.

The period (the schedule's latest tick at or before the run's logical time) names the
document and is its preparation time, so a rerun in the same period sends nothing and a
retry renders the same bytes. Products without a GTIN cannot be reported: they are listed
in the run's report, not dropped silently.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from hub.flows.edi_outbound_run import FLOW, Run, gtin_by_code, our_gln, trace_refs
from hub.flows.edi_outbound_send import Outgoing, deliver
from schemas.config import PartnerProfile
from schemas.errors import HubError, PermanentError, TransientError
from transforms import edifact_invrpt as invrpt_t
from transforms.edifact_outbound import MissingField
from transforms.keys import ControlNumberKey, DocumentKey

log = logging.getLogger(__name__)

DEFAULT_SCHEDULE = "@daily"


def invrpt_period(schedule: str, moment: datetime) -> datetime:
    """The start of the schedule's period holding ``moment`` (its latest tick at or before)."""
    from croniter import croniter

    try:
        tick = croniter(schedule, moment + timedelta(microseconds=1)).get_prev(datetime)
    except (ValueError, KeyError) as exc:
        raise PermanentError(
            f"invrpt_schedule {schedule!r} is not a cron expression or preset (@daily...)",
            system="config",
        ) from exc
    return tick if tick.tzinfo else tick.replace(tzinfo=UTC)


def invrpt(run: Run, profile: PartnerProfile, moment: datetime) -> None:
    """The partner's stock report for the period holding ``moment``, once."""
    period = invrpt_period(profile.outbound.invrpt_schedule or DEFAULT_SCHEDULE, moment)
    key = DocumentKey("INVRPT", profile.id, f"{period:%Y%m%dT%H%M}")
    if run.sent_before(key) is not None:
        run.count("already_sent", "INVRPT")
        return
    stock, without = invrpt_t.stock_by_gtin(run.hub.erp.stock_levels(), gtin_by_code(profile))
    if run.would is not None:
        if our_gln(profile):
            run.would_send("INVRPT", f"INVRPT {period:%Y-%m-%d %H:%M} to {profile.id}")
        else:
            run.would_do("ledger", "dead_letters", f"{key.doc_key}: supplier.gln missing")
            run.count("dead_letters", "INVRPT")
        return
    if without:
        run.report.setdefault("invrpt_products_without_gtin", {})[profile.id] = without
        log.warning("INVRPT %s: products without GTIN not reported: %s", key.doc_key, without)
    try:
        deliver(run, profile, _document(run, profile, key, period, stock))
    except TransientError:
        raise
    except HubError as exc:
        run.hub.ledger.dead_letter(
            FLOW,
            key.doc_key,
            str(exc.message),
            error_class=type(exc).__name__,
            payload={"document": "INVRPT", "partner": profile.id, "period": period.isoformat()},
            system="edi",
            partner=profile.id,
        )
        run.count("dead_letters", "INVRPT")


def _document(
    run: Run,
    profile: PartnerProfile,
    key: DocumentKey,
    period: datetime,
    stock: invrpt_t.StockTable,
) -> Outgoing:
    """The report's document, numbered once per period (``IR`` + the partner's counter)."""
    supplier = our_gln(profile)
    if not supplier:
        raise MissingField("INVRPT", f"partner {profile.id}", "supplier.gln")
    serial = run.hub.ledger.control_number(ControlNumberKey("invrpt", profile.id, key.doc_key))
    number = f"IR{serial:08d}"
    body = invrpt_t.invrpt(
        stock,
        document_number=number,
        issued=period.date(),
        as_of=period.date(),
        supplier_gln=supplier,
        partner_gln=profile.unb.partner_id,
        decimal_mark=profile.outbound.decimal_mark,
    )
    return Outgoing(
        key,
        invrpt_t.INVRPT_TYPE,
        body,
        period,
        result={"number": number, "period": period.isoformat(), "gtins": len(stock)},
        record=number,
        trace=trace_refs((number,)),
    )
