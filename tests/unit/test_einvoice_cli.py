"""`hub einvoice validate` and `show` on generated, official and mutated files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hub.cli import app
from sandbox.einvoice_data import BUYERS, SELLER, customer, make_invoice
from tests.fixtures.einvoice import official_rules
from transforms.einvoice import render
from transforms.einvoice.document import build

runner = CliRunner()


@pytest.fixture
def rules(monkeypatch: pytest.MonkeyPatch) -> Path:
    path = official_rules()
    monkeypatch.setenv("HUB_EINVOICE_RULES", str(path))
    return path


def _write(tmp_path: Path, fmt: str, seed: int = 3) -> Path:
    doc = build(
        make_invoice(seed),
        fmt=fmt,
        seller=SELLER,
        # type: ignore[arg-type]
        buyer=BUYERS[0],
        customer=customer(BUYERS[0], fmt),
    )  # type: ignore[arg-type]
    rendered = render(doc)
    path = tmp_path / rendered.file_name
    path.write_bytes(rendered.data)
    return path


def test_validate_official_and_generated_files(rules: Path, tmp_path: Path) -> None:
    official = rules / "xrechnung-testsuite/src/test/business-cases/standard/01.01a-INVOICE_ubl.xml"
    pdf = _write(tmp_path, "zugferd-xrechnung")
    result = runner.invoke(app, ["einvoice", "validate", str(official), str(pdf)])
    assert result.exit_code == 0, result.output
    assert f"{official}: valid (UBL Invoice in xml" in result.output
    assert f"{pdf}: valid (CII in pdf" in result.output
    assert "[EN16931, XRechnung, CII XSD, PDF/A-3 structure]" in result.output


def test_validate_json_names_rule_and_location_and_exits_1(rules: Path, tmp_path: Path) -> None:
    path = _write(tmp_path, "xrechnung-ubl")
    text = path.read_text()
    start = text.index("<cbc:BuyerReference>")
    end = text.index("</cbc:BuyerReference>") + len("</cbc:BuyerReference>")
    path.write_text(text[:start] + text[end:])
    result = runner.invoke(app, ["einvoice", "validate", "--json", str(path)])
    assert result.exit_code == 1
    report = json.loads(result.stdout.splitlines()[0])
    assert report["verdict"] == "invalid"
    error = next(e for e in report["errors"] if e["rule"] == "BR-DE-15")
    assert error["location"] == "/ubl:Invoice[1]" and "Buyer reference" in error["text"]


def test_validate_without_rules_says_which_setting(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("HUB_EINVOICE_RULES", raising=False)
    result = runner.invoke(app, ["einvoice", "validate", str(tmp_path / "x.xml")])
    assert result.exit_code == 2
    assert "HUB_EINVOICE_RULES" in result.output


def test_show_prints_parties_lines_vat_and_totals(tmp_path: Path) -> None:
    invoice = make_invoice(3)
    path = _write(tmp_path, "zugferd-en16931")
    result = runner.invoke(app, ["einvoice", "show", "--json", str(path)])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["number"] == invoice.number
    assert summary["totals"]["payable"] == str(invoice.total_amount)
    assert {v["rate"]: v["amount"] for v in summary["vat"]} == {
        str(t.rate.normalize()): str(t.amount) for t in invoice.taxes
    }
    assert len(summary["lines"]) == len(invoice.lines)
    table = runner.invoke(app, ["einvoice", "show", str(path)])
    assert table.exit_code == 0 and "VAT breakdown" in table.output
    assert "Sandbox Sales GmbH" in table.output


def test_show_of_a_non_invoice_is_one_line_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "note.xml"
    path.write_text("<note/>")
    result = runner.invoke(app, ["einvoice", "show", str(path)])
    assert result.exit_code == 2 and "not a UBL or CII e-invoice" in result.output
