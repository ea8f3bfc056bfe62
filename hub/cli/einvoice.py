"""`hub einvoice` commands: validate e-invoices by the official rules, show one readably.

``validate`` checks UBL (XRechnung, PEPPOL BIS), CII (XRechnung, Factur-X) and Factur-X /
ZUGFeRD PDFs against the EN 16931 artefacts, the XRechnung CIUS and the CII XSD found in
``--rules`` or ``HUB_EINVOICE_RULES``; exit 0 only when every file is valid, 1 when one is
not, 2 when the rules or a file cannot be read.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

app = typer.Typer(
    help="E-invoices: validate and show XRechnung, PEPPOL and ZUGFeRD files.", no_args_is_help=True
)

RULES_HELP = "folder with en16931/ and xrechnung-schematron/ (default: $HUB_EINVOICE_RULES)"


def _files(paths: list[Path]) -> list[Path]:
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            out.extend(sorted(p for p in path.rglob("*") if p.suffix.lower() in (".xml", ".pdf")))
        else:
            out.append(path)
    return out


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


@app.command()
def validate(
    files: list[Path] = typer.Argument(..., help="UBL/CII XML or Factur-X PDF files, or folders"),
    as_json: bool = typer.Option(False, "--json", help="one JSON object per file and line"),
    rules: Path | None = typer.Option(None, "--rules", help=RULES_HELP),
) -> None:
    """Validate e-invoices: verdict, rule ids, locations and texts of errors and warnings."""
    from connectors.einvoice.validator import Validator, rules_dir
    from schemas.errors import PermanentError

    try:
        validator = Validator(rules_dir(rules))
    except PermanentError as exc:
        _fail(str(exc))
    all_valid = True
    for path in _files(files):
        try:
            data = path.read_bytes()
        except OSError as exc:
            _fail(f"{path}: {exc.strerror or exc}")
        report = validator.validate(data, str(path))
        all_valid &= report.valid
        if as_json:
            typer.echo(json.dumps(report.to_json(), ensure_ascii=False))
            continue
        verdict = "valid" if report.valid else "invalid"
        typer.echo(
            f"{path}: {verdict} ({report.syntax} in {report.container}, "
            f"{report.specification or 'no specification id'}): "
            f"{len(report.errors)} error(s), {len(report.warnings)} warning(s)"
            + (f" [{', '.join(report.checks)}]" if report.checks else "")
        )
        for finding in report.errors + report.warnings:
            typer.echo(
                f"  {finding.severity} {finding.rule} [{finding.source}] at "
                f"{finding.location}: {finding.text}"
            )
    sys.stdout.flush()
    raise typer.Exit(0 if all_valid else 1)


@app.command()
def show(
    file: Path = typer.Argument(..., help="a UBL/CII XML or Factur-X PDF file"),
    as_json: bool = typer.Option(False, "--json", help="the summary as JSON"),
) -> None:
    """An e-invoice as a readable summary: parties, lines, totals and VAT breakdown."""
    from connectors.einvoice.validator import invoice_xml
    from schemas.errors import PermanentError
    from transforms.einvoice.read import summarize

    try:
        summary = summarize(invoice_xml(file.read_bytes(), str(file)))
    except OSError as exc:
        _fail(f"{file}: {exc.strerror or exc}")
    except (PermanentError, ValueError) as exc:
        _fail(f"{file}: {exc}")
    if as_json:
        typer.echo(json.dumps(summary.to_json(), ensure_ascii=False, indent=2))
        return
    from hub.cli.einvoice_show import render

    render(summary)
