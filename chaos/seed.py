"""Work for the flows: partners' ORDERS files (good and deliberately bad), CRM-made companies,
and the ERP staff and carrier moving things along between runs (pack, ship, invoice, track).

Every choice comes from the round's seeded RNG, so a round is replayed by its seed. What was
sent is written down in ``Expected``: the counts in ``chaos/count.py`` compare against it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

import requests

from chaos.world import Partner, StaffSession, World

BAD_KINDS = ("garbage", "conflict", "unknown_gtin", "bad_crm_company")
ORDER_DATE = date(2026, 11, 2)


@dataclass
class SentOrder:
    """One ORDERS message a partner sent, and what the ERP should hold for it."""

    number: str
    partner: str
    expect_sale: bool = True
    resent: int = 0  # times the same content came again in a new interchange
    conflicting: int = 0  # times the same number came with other content


@dataclass
class BadInput:
    """A deliberately bad input: the dead letter it may leave is expected, not a failure."""

    kind: str
    flow: str
    markers: tuple[str, ...]  # strings one of which a matching dead letter names
    what: str
    required: bool = False  # must a dead letter exist for it? (no: the hub may answer otherwise)


@dataclass
class Expected:
    """Everything sent into the world so far (cumulative over rounds)."""

    orders: dict[str, SentOrder] = field(default_factory=dict)
    interchanges: list[tuple[str, str, bool]] = field(default_factory=list)  # partner, ref, ok
    files: list[tuple[str, str]] = field(default_factory=list)  # partner, file name
    bad: list[BadInput] = field(default_factory=list)
    crm_companies: dict[str, bool] = field(default_factory=dict)  # name -> valid?
    payloads: dict[str, Any] = field(default_factory=dict)  # order number -> SalesOrder


def _products() -> list[Any]:
    from sandbox.erp_seed import catalogue
    from schemas.model import Product

    return [
        Product(code=p.code, name=p.name, gtin=p.gtin, list_price=p.list_price, currency="EUR")
        for p in catalogue()
    ]


def _unknown_product() -> Any:
    from sandbox.erp_seed import gtin13
    from schemas.model import Product

    return Product(
        code="CHAOS-NOPE",
        name="Not in the catalogue",
        gtin=gtin13("400638777777"),
        list_price=Decimal("9.99"),
        currency="EUR",
    )


class Seeder:
    """Makes each round's inputs and remembers them in ``expected``."""

    def __init__(self, world: World, *, orders_per_partner: int, lines: int = 3) -> None:
        self.world = world
        self.orders_per_partner = orders_per_partner
        self.lines = lines
        self.expected = Expected()
        self._products = _products()
        self._control = 0

    def _control_ref(self, round_no: int) -> str:
        self._control += 1
        return f"{round_no:03d}{self._control:05d}"

    def _interchange(self, partner: Partner, orders: list[Any], round_no: int) -> tuple[str, bytes]:
        from sandbox.partner import orders_interchange

        ref = self._control_ref(round_no)
        data = orders_interchange(
            orders,
            sender=partner.gln,
            recipient=partner.our_id,
            control_ref=ref,
            message_type=partner.message_type,
            syntax_identifier=partner.syntax_identifier,
            decimal_mark=partner.decimal_mark,
            newline=partner.decimal_mark == ".",
        )
        return ref, data

    def _drop(self, partner: Partner, name: str, data: bytes) -> None:
        from sandbox.partner import drop

        drop(partner.inbox, name, data)
        self.expected.files.append((partner.id, name))

    def seed_round(self, round_no: int, rng: random.Random) -> dict[str, Any]:
        """Drop this round's ORDERS files and CRM companies; return what was seeded."""
        from sandbox.partner import make_orders

        summary: dict[str, Any] = {"files": [], "orders": 0, "bad": [], "crm_companies": []}
        for index, partner in enumerate(sorted(self.world.partners.values(), key=lambda p: p.id)):
            count = self.orders_per_partner
            orders = make_orders(
                partner.gln,
                partner.our_id,
                self._products,
                count=count,
                lines=self.lines,
                seed=rng.randrange(1000),
                prefix=f"{partner.id[:2].upper()}{round_no:02d}-",
                order_date=ORDER_DATE,
            )
            # one or two files per partner and round
            cut = rng.randint(1, len(orders)) if len(orders) > 1 else len(orders)
            for part, chunk in enumerate((orders[:cut], orders[cut:])):
                if not chunk:
                    continue
                ref, data = self._interchange(partner, chunk, round_no)
                name = f"orders_{partner.id}_{ref}.edi"
                self._drop(partner, name, data)
                self.expected.interchanges.append((partner.id, ref, True))
                summary["files"].append(name)
                for order in chunk:
                    self.expected.orders[order.order_number] = SentOrder(
                        order.order_number, partner.id
                    )
                    self.expected.payloads[order.order_number] = order
                summary["orders"] += len(chunk)
                del part
            if index == 0 or rng.random() < 0.5:
                self._resend(partner, round_no, rng, summary)
        for kind in rng.sample(BAD_KINDS, 2):
            self._bad(kind, round_no, rng, summary)
        self._crm_companies(round_no, rng, summary)
        return summary

    def _resend(
        self, partner: Partner, round_no: int, rng: random.Random, summary: dict[str, Any]
    ) -> None:
        """A partner sends an order it already sent, same content, in a new interchange."""
        own = [
            o
            for o in self.expected.orders.values()
            if o.partner == partner.id and o.expect_sale and not o.conflicting
        ]
        if not own:
            return
        chosen = own[rng.randrange(len(own))]
        order = self.expected.payloads[chosen.number]
        ref, data = self._interchange(partner, [order], round_no)
        name = f"resent_{partner.id}_{ref}.edi"
        self._drop(partner, name, data)
        self.expected.interchanges.append((partner.id, ref, True))
        chosen.resent += 1
        summary["files"].append(name)
        summary.setdefault("resent", []).append(chosen.number)

    def _bad(self, kind: str, round_no: int, rng: random.Random, summary: dict[str, Any]) -> None:
        """One deliberately bad input of ``kind``, from a partner the round's RNG picks."""
        partners = sorted(self.world.partners.values(), key=lambda p: p.id)
        partner = partners[rng.randrange(len(partners))]
        if kind == "garbage":
            self._bad_garbage(partner, round_no, summary)
        elif kind == "conflict":
            self._bad_conflict(partner, round_no, rng, summary)
        elif kind == "unknown_gtin":
            self._bad_unknown_gtin(partner, round_no, summary)
        elif kind == "bad_crm_company":
            self._bad_crm_company(round_no, summary)

    def _bad_garbage(self, partner: Partner, round_no: int, summary: dict[str, Any]) -> None:
        """A file in the partner's inbox that is no EDIFACT at all."""
        name = f"garbage_{partner.id}_{round_no:03d}.edi"
        self._drop(partner, name, b"this is not an EDIFACT interchange\n" * 3)
        self.expected.bad.append(
            BadInput(
                "garbage", "edi_orders_inbound", (name,), f"{partner.id}: {name} (not EDIFACT)"
            )
        )
        summary["bad"].append(f"garbage file {name}")

    def _bad_conflict(
        self, partner: Partner, round_no: int, rng: random.Random, summary: dict[str, Any]
    ) -> None:
        """An order number the partner already used, again with another first-line quantity."""
        orders = self.expected.orders.values()
        own = [o for o in orders if o.partner == partner.id and o.expect_sale]
        if not own:
            return
        chosen = own[rng.randrange(len(own))]
        original = self.expected.payloads[chosen.number]
        first = original.lines[0]
        changed = original.model_copy(
            update={
                "lines": (
                    first.model_copy(update={"quantity": first.quantity + 1}),
                    *original.lines[1:],
                )
            }
        )
        ref, data = self._interchange(partner, [changed], round_no)
        name = f"conflict_{partner.id}_{ref}.edi"
        self._drop(partner, name, data)
        self.expected.interchanges.append((partner.id, ref, True))
        chosen.conflicting += 1
        self.expected.bad.append(
            BadInput(
                "conflict",
                "edi_orders_inbound",
                (chosen.number,),
                f"{partner.id}: order {chosen.number} again with another quantity ({name})",
            )
        )
        summary["bad"].append(f"conflicting order {chosen.number} in {name}")

    def _bad_unknown_gtin(self, partner: Partner, round_no: int, summary: dict[str, Any]) -> None:
        """An order for a product the ERP does not know: it must make no sale."""
        from sandbox.partner import make_orders

        (order,) = make_orders(
            partner.gln,
            partner.our_id,
            [_unknown_product()],
            count=1,
            lines=1,
            seed=round_no,
            prefix=f"X{partner.id[:2].upper()}{round_no:02d}-",
            order_date=ORDER_DATE,
        )
        ref, data = self._interchange(partner, [order], round_no)
        name = f"unknown_{partner.id}_{ref}.edi"
        self._drop(partner, name, data)
        self.expected.interchanges.append((partner.id, ref, True))
        self.expected.orders[order.order_number] = SentOrder(
            order.order_number, partner.id, expect_sale=False
        )
        self.expected.payloads[order.order_number] = order
        self.expected.bad.append(
            BadInput(
                "unknown_gtin",
                "edi_orders_inbound",
                (order.order_number, name),
                f"{partner.id}: order {order.order_number} with an unknown GTIN ({name})",
            )
        )
        summary["bad"].append(f"unknown GTIN order {order.order_number} in {name}")

    def _bad_crm_company(self, round_no: int, summary: dict[str, Any]) -> None:
        """A company a CRM user typed in with a country that does not exist."""
        name = f"Chaos Defekt {self.world.seed}-{round_no}"
        rec = self._crm_user_create({"name": name, "country": "XX", "city": "Nirgendwo"})
        self.expected.crm_companies[name] = False
        rid = str(rec.get("id", ""))
        self.expected.bad.append(
            BadInput(
                "bad_crm_company",
                "crm_pull",
                tuple(m for m in (rid, name) if m),
                f"CRM company {rid} {name!r} with country 'XX'",
            )
        )
        summary["bad"].append(f"CRM company {name!r} with country XX")

    def _crm_user_create(self, properties: dict[str, str]) -> dict[str, Any]:
        """A company typed in by a CRM user (the sandbox's admin API, never the hub)."""
        url = f"{self.world.crm.url}/__sandbox/user/companies"
        response = requests.post(url, json={"properties": properties}, timeout=30)
        response.raise_for_status()
        data: dict[str, Any] = response.json()
        return data

    def _crm_companies(self, round_no: int, rng: random.Random, summary: dict[str, Any]) -> None:
        """New customers a CRM user typed in: each must become exactly one ERP party."""
        for k in range(rng.randint(1, 2)):
            name = f"Chaos Kunde {self.world.seed}-{round_no}-{k} GmbH"
            self._crm_user_create(
                {
                    "name": name,
                    "zip": f"{20000 + round_no * 10 + k}",
                    "city": "Hamburg",
                    "country": "DE",
                    "address": f"Chaosweg {round_no}",
                    "phone": f"+49 40 777{round_no:03d}{k}",
                },
            )
            self.expected.crm_companies[name] = True
            summary["crm_companies"].append(name)


class Warehouse(StaffSession):
    """The ERP's staff and the carrier's vans: what moves work from one flow to the next."""

    def step(self) -> dict[str, int]:
        """Pack waiting shipments, ship booked ones, post invoices, move parcels; counts."""
        op = self.operator
        done: dict[str, int] = {"packed": 0, "shipped": 0, "invoices_posted": 0, "tracked": 0}
        model = "stock.shipment.out"
        waiting = [r["id"] for r in op.search_read(model, [["state", "=", "waiting"]], ["id"])]
        if waiting:
            for action in ("assign_force", "pick", "pack"):
                op.call(model, action, waiting)
            done["packed"] = len(waiting)
        booked = [
            r["id"]
            for r in op.search_read(model, [["state", "=", "packed"]], ["id", "reference"])
            if r.get("reference")
        ]
        if booked:
            op.call(model, "do", booked)
            done["shipped"] = len(booked)
        drafts = [
            r["id"]
            for r in op.search_read(
                "account.invoice", [["state", "in", ["draft", "validated"]], ["type", "=", "out"]],
                ["id"],
            )
        ]  # fmt: skip
        if drafts:
            op.call("account.invoice", "post", drafts)
            done["invoices_posted"] = len(drafts)
        admin = f"{self.world.carrier.url}/__sandbox"
        shipments = requests.get(f"{admin}/shipments", timeout=30)
        shipments.raise_for_status()
        for shipment in shipments.json():
            if shipment["deleted"] or "OK" in shipment["events"]:
                continue
            body = {"number": shipment["number"], "steps": 6}  # picked up ... delivered
            requests.post(f"{admin}/advance", json=body, timeout=30).raise_for_status()
            done["tracked"] += 1
        return done
