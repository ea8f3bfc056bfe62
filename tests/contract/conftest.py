"""ERP port contract fixtures: the FakeErp and the Tryton adapter, both seeded like the sandbox.

``erp_port_world`` runs each contract test twice: on a ``FakeErp`` seeded from
``sandbox.erp_seed`` (the sandbox's catalogue and customers) and, marked ``integration``, on
the Tryton adapter against the session's sandbox trytond. The world also offers what the
ERP's staff do (ship, post invoices, count stock), so one test drives both the same way.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

import pytest

from connectors.erp.fake import FakeErp
from connectors.erp.port import ErpPort
from connectors.erp.tryton import TrytonErp
from sandbox.erp_seed import (
    FOREIGN_RATES,
    PRICE_LIST_BREAKS,
    SeedCustomer,
    catalogue,
    customers,
)
from schemas.model import Address, ContactMechanism, Party
from tests.fixtures.hub import add_products


@dataclass(frozen=True)
class ErpPortWorld:
    """One ERP behind the port, seeded like the sandbox, and its staff's actions."""

    name: str
    port: ErpPort
    fresh_port: Callable[[], ErpPort]  # another connector on the same ERP (a new session)
    ship: Callable[[str], object]  # ship a confirmed sale completely
    post_invoices: Callable[[str], object]  # post the invoices of a shipped sale
    set_stock: Callable[[str, int], object]  # count a product's stock in the warehouse
    mark: Callable[[], dt.datetime]  # a ``since`` that every change from now on is at/after


def _seed_party(c: SeedCustomer) -> Party:
    """A sandbox customer as the ERP port's Party: address, email and phone of its contact."""
    address = Address(street=c.street, postal_code=c.postal_code, city=c.city, country=c.country)
    mechanisms = tuple(
        ContactMechanism(type=kind, value=value, name=c.contact_name)
        for kind, value in (("email", c.email), ("phone", c.phone))
    )
    return Party(name=c.name, code=c.code, gln=c.gln, vat=c.vat, addresses=(address,),
                 contact_mechanisms=mechanisms)  # fmt: skip


def erp_port_seeded_fake() -> FakeErp:
    """A FakeErp with the sandbox ERP's catalogue (stock in WH) and customers."""
    fake = FakeErp(tax_rate=Decimal(19))
    add_products(fake, [(p.code, p.name, p.gtin, p.list_price, p.stock) for p in catalogue()])
    created = fake.create_parties([_seed_party(c) for c in customers()])
    for party, seed in zip(created, customers(), strict=True):
        if seed.price_list and party.erp_id:  # the sandbox's "Retail partners" list
            fake.price_lists[party.erp_id] = PRICE_LIST_BREAKS
    fake.currencies |= set(FOREIGN_RATES)  # the sandbox's other currencies and rates
    fake.rates.update(FOREIGN_RATES)
    fake.tick()
    return fake


def _fake_world() -> ErpPortWorld:
    fake = erp_port_seeded_fake()

    def set_stock(code: str, quantity: int) -> None:
        fake.stock[(code, "WH")] = Decimal(quantity)

    return ErpPortWorld(
        name="fake",
        port=fake,
        fresh_port=lambda: fake,
        ship=fake.ship,
        post_invoices=fake.post_invoice,
        set_stock=set_stock,
        mark=fake.tick,
    )


def _tryton_world(request: pytest.FixtureRequest) -> ErpPortWorld:
    erp: TrytonErp = request.getfixturevalue("erp")
    server = request.getfixturevalue("erp_server")
    operator = request.getfixturevalue("erp_operator")

    def fresh_port() -> ErpPort:
        return TrytonErp.connect(server.url, server.database, server.login, server.password)

    def mark() -> dt.datetime:
        # Tryton stamps changes with its own clock (the same machine), to the microsecond
        return dt.datetime.now(dt.UTC) - dt.timedelta(seconds=2)

    return ErpPortWorld(
        name="tryton",
        port=erp,
        fresh_port=fresh_port,
        ship=lambda sale_id: operator.ship_sale(int(sale_id)),
        post_invoices=lambda sale_id: operator.post_invoices(int(sale_id)),
        set_stock=lambda code, quantity: operator.set_stock({code: quantity}),
        mark=mark,
    )


@pytest.fixture(params=["fake", pytest.param("tryton", marks=pytest.mark.integration)])
def erp_port_world(request: pytest.FixtureRequest) -> ErpPortWorld:
    """The ERP port on the FakeErp, then on the Tryton adapter (sandbox trytond)."""
    if request.param == "fake":
        return _fake_world()
    return _tryton_world(request)


@pytest.fixture
def erp_port(erp_port_world: ErpPortWorld) -> ErpPort:
    """The port of ``erp_port_world``."""
    return erp_port_world.port
