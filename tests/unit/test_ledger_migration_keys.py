"""Migration 0003 parses stored keys with its own frozen copy; it must agree with the keys
module for every key kind of that revision (a change of key format needs a new migration)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

from hypothesis import given, settings
from hypothesis import strategies as st

from transforms import keys

MIGRATION = (
    Path(__file__).parents[2] / "hub/ledger/migrations/versions/0003_journal_key_fields_owners.py"
)
PREFIXES = ["erp.sale", "carrier.shipment", "carrier.tracking", "edi.out", "crm.push.companies",
            "crm.pull.contacts", "crm", "other"]  # fmt: skip


def _migration() -> ModuleType:
    spec = importlib.util.spec_from_file_location("migration_0003", MIGRATION)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


FROZEN = _migration().fields_of


def test_the_frozen_parser_fills_the_columns_of_every_key_kind() -> None:
    built = [
        keys.SaleKey("4012345000009", "PO-1"),
        keys.BookingKey("SHIP/7"),
        keys.TrackingKey("JD0001", "ab12"),
        keys.DocumentKey("INVOIC", "acme", "INV/2026/1"),
        keys.DocumentKey.ordrsp(keys.SaleKey("4012345000009", "PO-1")),
        keys.CrmObjectKey("push", "companies", "12"),
    ]
    for key in built:
        assert FROZEN(str(key)) == key.fields() == keys.fields_of(str(key))
    assert FROZEN("not-a-key") == {"kind": None, "scope": None, "subject": None}


@settings(max_examples=500, deadline=None)
@given(st.sampled_from(PREFIXES), st.text(alphabet=":aZ9.ORDRSPerp.sale-", max_size=24))
def test_the_frozen_parser_agrees_with_the_keys_module(prefix: str, rest: str) -> None:
    text = f"{prefix}:{rest}"
    assert FROZEN(text) == keys.fields_of(text)
