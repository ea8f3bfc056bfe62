"""`hub edi validate --partner`: the shipped partner profiles and the ERP's parties/products."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
import typer
from stdnum import ean
from typer.testing import CliRunner

from connectors.edi.partner_checks import PartnerChecks
from connectors.edi.validation import validate
from connectors.erp.fake import FakeErp
from hub.cli.edi import app as edi_app
from hub.cli.edi import run_validate
from hub.config import load_partners
from sandbox.partner import ORDERS_D96A, make_orders, orders_interchange
from schemas.config import PartnerProfile
from schemas.errors import TransientError
from schemas.model import Party, Product

PROFILES = load_partners()
NORD = PROFILES["kaufhaus-nord"]
SUED = PROFILES["markt-sued"]
GTINS = [g + ean.calc_check_digit(g) for g in ("400638100001", "400638100002", "400638100003")]
STRANGER = "4012345000009"  # a valid GLN no profile and no ERP party has
CATALOGUE = [
    Product(code=f"P{i}", name=f"Product {i}", gtin=g, list_price=Decimal("10.00"))
    for i, g in enumerate(GTINS)
]


def _erp(*, products: list[Product] = CATALOGUE, glns: tuple[str, ...] = ()) -> FakeErp:
    erp = FakeErp()
    for product in products:
        erp.add_product(product)
    erp.create_parties([Party(name=f"Party {g}", gln=g) for g in glns])
    erp.calls = 0
    return erp


def _file(
    profile: PartnerProfile = NORD,
    *,
    count: int = 2,
    buyer: str | None = None,
    sender: str | None = None,
    recipient: str | None = None,
    products: list[Product] = CATALOGUE,
    **kwargs: object,
) -> bytes:
    orders = make_orders(
        buyer or profile.unb.partner_id, profile.unb.our_id, products, count=count, lines=2
    )
    options: dict[str, object] = {
        "syntax_identifier": profile.syntax_identifier,
        "decimal_mark": profile.decimal_mark,
    }
    options.update(kwargs)
    return orders_interchange(
        orders,
        sender=sender or profile.unb.partner_id,
        recipient=recipient or profile.unb.our_id,
        control_ref="ONB1",
        **options,  # type: ignore[arg-type]
    )


def _check(data: bytes, profile: PartnerProfile = NORD, erp: FakeErp | None = None):  # type: ignore[no-untyped-def]
    checks = PartnerChecks(profile, erp)
    return validate(data, checks=[checks.message], interchange_checks=[checks.interchange])


def _codes(result) -> list[tuple[object, str | None, int | None]]:  # type: ignore[no-untyped-def]
    return [(e.code, e.tag, e.element_position) for e in result.all_errors()]


@pytest.mark.parametrize("profile", [NORD, SUED], ids=lambda p: p.id)
def test_partner_files_pass_profile_and_erp(profile: PartnerProfile) -> None:
    erp = _erp(glns=(profile.unb.partner_id,))
    result = _check(_file(profile, count=20), profile, erp)
    assert result.verdict == "accepted", result.all_errors()
    # looked up in batches and remembered: not once per message
    assert erp.calls <= 4


def test_sender_recipient_syntax_and_decimal_mark_against_the_profile() -> None:
    other = _file(NORD, sender=SUED.unb.partner_id, recipient=STRANGER)
    assert _codes(_check(other)) == [(23, "UNB", 2), (7, "UNB", 3)]
    # Markt Sued agreed UNOB and a decimal comma: a UNOC file with a decimal point is neither
    wrong = _file(SUED, syntax_identifier="UNOC", decimal_mark=".")
    errors = _check(wrong, SUED).all_errors()
    assert [(int(e.code), e.element_position, e.component_position) for e in errors] == [
        (2, 1, 1),
        (19, None, None),
    ]
    assert "UNOB" in errors[0].message and "','" in errors[1].message


def test_test_indicator_policy() -> None:
    data = _file(NORD, test=True)
    assert _check(data).verdict == "accepted"  # Kaufhaus Nord may send test interchanges
    strict = NORD.model_copy(update={"accept_test_interchanges": False})
    assert _codes(_check(data, strict)) == [(25, "UNB", 11)]


def test_message_type_not_agreed() -> None:
    data = _file(NORD, message_type="ORDERS:D:96A:UN")  # no EAN008 association code
    result = _check(data)
    assert {(e.code, e.tag, e.segment_position) for e in result.all_errors()} == {(17, "UNH", 1)}
    assert _check(_file(NORD, message_type=ORDERS_D96A)).verdict == "accepted"


def test_unknown_gtin_and_party_have_application_codes() -> None:
    erp = _erp(products=CATALOGUE[:1], glns=(NORD.unb.partner_id,))
    result = _check(_file(NORD, count=1, products=CATALOGUE[1:]), NORD, erp)
    assert result.verdict == "rejected"
    assert {(e.code, e.tag, e.element_position) for e in result.all_errors()} == {
        ("GTIN", "LIN", 3)
    }
    unknown = _check(_file(NORD, count=1, buyer=STRANGER), NORD, _erp())
    found = {(e.code, e.tag) for e in unknown.all_errors()}
    assert found == {("BUYER", "NAD"), ("DELIV", "NAD")}
    first = unknown.all_errors()[0]
    assert first.segment_position and STRANGER in first.message
    assert first.to_dict()["code"] in ("BUYER", "DELIV")
    # the profile's party_lookup stands in for a GLN the ERP does not hold
    mapped = NORD.model_copy(update={"party_lookup": {STRANGER: "42"}})
    assert _check(_file(NORD, count=1, buyer=STRANGER), mapped, _erp()).verdict == "accepted"


def test_erp_failure_is_a_warning_not_a_crash() -> None:
    erp = _erp(glns=(NORD.unb.partner_id,))
    erp.fail_next(TransientError("connection refused", system="erp"))
    result = _check(_file(NORD, count=3), NORD, erp)
    assert result.verdict == "accepted"
    warnings = [w for i in result.interchanges for m in i.messages for w in m.warnings]
    assert len(warnings) == 1 and "ERP lookup failed" in warnings[0].message


def test_cli_with_injected_erp(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "good.edi"
    good.write_bytes(_file(NORD))
    bad = tmp_path / "bad.edi"
    bad.write_bytes(_file(NORD, products=CATALOGUE[1:]))
    erp = _erp(products=CATALOGUE[:1], glns=(NORD.unb.partner_id,))
    with pytest.raises(typer.Exit) as done:
        run_validate([good, bad], partner="kaufhaus-nord", as_json=True, erp=erp)
    assert done.value.exit_code == 1
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["verdict"] for line in lines] == ["rejected", "rejected"]
    codes = {
        e["code"] for i in lines[1]["interchanges"] for m in i["messages"] for e in m["errors"]
    }
    assert codes == {"GTIN"}


def test_cli_without_erp_connection_warns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_HUB_ERP", raising=False)
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path / "airflow"))
    good = tmp_path / "good.edi"
    good.write_bytes(_file(SUED))
    main = typer.Typer()
    main.add_typer(edi_app, name="edi")
    out = CliRunner().invoke(main, ["edi", "validate", "--partner", "markt-sued", str(good)])
    assert out.exit_code == 0, out.output
    assert "hub_erp" in out.output and "not configured" in out.output
    other = CliRunner().invoke(main, ["edi", "validate", "--partner", "kaufhaus-nord", str(good)])
    assert other.exit_code == 1 and "error 23" in other.output
