"""Pure mappings of the CRM quote-to-cash: quotes, delivery on the deal, won deals as orders.

ERP -> CRM: an ERP sale from quotation on is also a CRM quote object; the carrier's tracking
(from the hub's journal) becomes deal properties. CRM -> ERP: a won deal with its line
items becomes a ``SalesOrder`` (the ERP's own sale creation makes it a quotation or sale);
whether a CRM company is a customer (and so an ERP party) follows the configured rule.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from schemas.crm_config import CrmConfig, CustomerRule
from schemas.errors import PermanentError
from schemas.model import ErpSale, PartyRef, SalesOrder, SalesOrderLine
from transforms.crm_mapping import Props, wire

QUOTE_PROPERTIES = (
    "hs_title", "hs_status", "hs_currency", "hub_quote_amount", "hub_sale_number",
    "hub_sale_state",
)  # fmt: skip
DELIVERY_PROPERTIES = (
    "hub_tracking_number", "hub_carrier", "hub_carrier_status", "hub_delivered_date",
)  # fmt: skip
# ERP sale state -> HubSpot quote status
QUOTE_STATUS = {
    "quotation": "APPROVAL_NOT_NEEDED",
    "confirmed": "APPROVED",
    "processing": "APPROVED",
    "done": "APPROVED",
    "cancelled": "REJECTED",
}
DEAL_READ_PROPERTIES = ("dealname", "dealstage", "pipeline", "deal_currency_code", "closedate")
LINE_READ_PROPERTIES = ("name", "quantity", "price", "hs_product_id", "hs_sku")
TRUE_VALUES = frozenset({"true", "yes", "1", "y", "x"})
# a deal won in the CRM keeps what its people set: the hub does not push these onto it
WON_DEAL_CRM_OWNED = ("dealname", "dealstage", "pipeline")


def quote_payload(sale: ErpSale) -> Props | None:
    """The CRM quote of a sale from quotation on (None for a draft)."""
    status = QUOTE_STATUS.get(sale.state)
    if status is None:
        return None
    amount = sale.total_amount if sale.total_amount is not None else sale.untaxed_amount
    return {
        "hs_title": f"Quotation {sale.number or sale.erp_id}"
        + (f" ({sale.reference})" if sale.reference else ""),
        "hs_status": status,
        "hs_currency": sale.currency,
        "hub_quote_amount": wire(amount),
        "hub_sale_number": wire(sale.number),
        "hub_sale_state": sale.state,
    }


@dataclass(frozen=True)
class Parcel:
    """One booked shipment of a sale and the last carrier status the hub recorded."""

    tracking_number: str
    carrier: str
    status: str
    delivered_on: date | None = None


def parcels_by_order(
    bookings: Iterable[Mapping[str, Any]], tracking: Iterable[Mapping[str, Any]]
) -> dict[str, list[Parcel]]:
    """Order number -> parcels, from the results of done booking and tracking journal entries
    (tracking rows oldest first: the last one of a tracking number is its status now)."""
    last: dict[str, Mapping[str, Any]] = {}
    for row in tracking:
        number = str(row.get("tracking_number") or "")
        if number:
            last[number] = row
    out: dict[str, list[Parcel]] = {}
    for booking in bookings:
        number = str(booking.get("tracking_number") or "")
        if not number:
            continue
        status = last.get(number, {})
        parcel = Parcel(
            number,
            str(booking.get("carrier") or ""),
            str(status.get("status") or "created"),
            _delivered_on(status),
        )
        for order in booking.get("order_numbers") or []:
            out.setdefault(str(order), []).append(parcel)
    return out


def _delivered_on(status: Mapping[str, Any]) -> date | None:
    if status.get("status") != "delivered":
        return None
    stamps = [e.get("at") for e in status.get("events") or [] if e.get("status") == "delivered"]
    stamp = stamps[-1] if stamps else status.get("last_event_at")
    try:
        return datetime.fromisoformat(str(stamp)).date() if stamp else None
    except ValueError:
        return None


def delivery_payload(parcels: Sequence[Parcel]) -> Props:
    """Tracking numbers, carrier, status and delivered date of a sale's parcels on its deal.

    Several parcels: every tracking number; the status is "delivered" only when all are
    (then the date is the last delivery), else the status of the first one still on its way.
    """
    ordered = sorted(parcels, key=lambda p: p.tracking_number)
    open_ = [p for p in ordered if p.status != "delivered"]
    delivered = [p.delivered_on for p in ordered if p.delivered_on is not None]
    return {
        "hub_tracking_number": ", ".join(p.tracking_number for p in ordered),
        "hub_carrier": ", ".join(sorted({p.carrier for p in ordered if p.carrier})),
        "hub_carrier_status": open_[0].status if open_ else "delivered",
        "hub_delivered_date": wire(max(delivered)) if delivered and not open_ else "",
    }


def is_customer(props: Mapping[str, str], rule: CustomerRule, *, won_deal: bool) -> bool:
    """Whether a CRM company is a customer by ``rule`` (any part that holds is enough)."""
    if rule.property and (props.get(rule.property) or "").strip().lower() in TRUE_VALUES:
        return True
    stage = (props.get("lifecyclestage") or "").strip().lower()
    if stage in {s.lower() for s in rule.lifecycle_stages}:
        return True
    if not stage and rule.without_stage == "customer":
        return True
    return rule.won_deal and won_deal


@dataclass(frozen=True)
class DealLine:
    """A CRM line item of a won deal, with the ERP product code it is bound to (if any)."""

    crm_id: str
    props: Mapping[str, str]
    product_code: str | None


def deal_order(
    deal_id: str,
    props: Mapping[str, str],
    party_erp_id: str,
    lines: Sequence[DealLine],
    config: CrmConfig,
    today: date,
) -> SalesOrder:
    """The ERP order of a won deal; a ``PermanentError`` (code ``no_line_items``,
    ``unknown_product``, ``invalid_line``) names the deal, the line item and the fix."""
    where = f"CRM deal {deal_id} ({props.get('dealname') or 'unnamed'})"
    if not lines:
        raise PermanentError(
            f"{where} has no line items: add the products sold to the deal in the CRM",
            system="crm", code="no_line_items",
        )  # fmt: skip
    missing = [ln for ln in lines if not ln.product_code]
    if missing:
        names = ", ".join(
            f"{ln.props.get('name') or ln.crm_id} (SKU {ln.props.get('hs_sku') or 'none'})"
            for ln in missing
        )
        raise PermanentError(
            f"{where}: line items {names} name no product the ERP knows: pick products "
            "synced from the ERP (or set hs_sku to an ERP product code), then move the deal "
            "to the won stage again or replay the dead letter",
            system="crm", code="unknown_product",
        )  # fmt: skip
    order_lines = []
    for n, ln in enumerate(sorted(lines, key=lambda x: int(x.crm_id)), start=1):
        try:
            quantity = Decimal(ln.props.get("quantity") or "1")
            price_text = ln.props.get("price")
            price = Decimal(price_text) if price_text else None
        except InvalidOperation:
            raise PermanentError(
                f"{where}: line item {ln.crm_id} has quantity {ln.props.get('quantity')!r} / "
                f"price {ln.props.get('price')!r}, not numbers: fix them in the CRM",
                system="crm", code="invalid_line",
            ) from None  # fmt: skip
        order_lines.append(SalesOrderLine(
            line_no=n, product_code=ln.product_code, quantity=quantity, unit_price=price,
            description=ln.props.get("name") or None,
        ))  # fmt: skip
    return SalesOrder(
        order_number=f"{config.won_deals.reference_prefix}{deal_id}",
        order_date=today,
        buyer=PartyRef(erp_id=party_erp_id),
        currency=(props.get("deal_currency_code") or config.won_deals.default_currency).upper(),
        lines=tuple(order_lines),
        notes=(where,),
        source="crm",
    )
