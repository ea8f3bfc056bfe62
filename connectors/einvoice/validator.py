"""Validate UBL, CII and Factur-X/ZUGFeRD e-invoices by the official rules (Saxon, lxml).

The EN 16931 artefacts (compiled XSLT for UBL and CII), the XRechnung CIUS Schematron
(compiled here once, see ``schematron``) and the CII D16B XSD are read from the rules folder
(``HUB_EINVOICE_RULES``: the ``einvoicing`` folder holding ``en16931/`` and
``xrechnung-schematron/``). Each stylesheet is compiled once per process and kept. A PDF
is also checked for PDF/A-3 by structure (``pdfa``). PEPPOL BIS documents get the EN 16931
rules only: no PEPPOL Schematron is among the artefacts.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lxml import etree

from connectors.einvoice.pdfa import check_pdfa3
from connectors.einvoice.schematron import compile_schematron
from connectors.einvoice.svrl import Finding, parse_svrl
from schemas.errors import PermanentError

# factur-x logs every level detection at INFO: chatter in a CLI or a flow log
logging.getLogger("factur-x").setLevel(logging.WARNING)
RULES_ENV = "HUB_EINVOICE_RULES"
EN16931_UBL = "en16931/ubl/xslt/EN16931-UBL-validation.xslt"
EN16931_CII = "en16931/cii/xslt/EN16931-CII-validation.xslt"
CII_XSD = (
    "en16931/cii/schema/D16B SCRDM (Subset)/uncoupled clm/CII/uncefact/data/standard/"
    "CrossIndustryInvoice_100pD16B.xsd"
)
XR_UBL = "xrechnung-schematron/src/validation/schematron/ubl/XRechnung-UBL-validation.sch"
XR_CII = "xrechnung-schematron/src/validation/schematron/cii/XRechnung-CII-validation.sch"
NS_INVOICE = "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
NS_CREDIT = "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2"
NS_CII = "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"
XR_EXTENSION = "#conformant#urn:xeinkauf.de:kosit:extension:xrechnung"
# EN 16931 rules the XRechnung extension overrides with its own (the Schematron sources say
# "Overrides BR-CO-16" / "Überschreibt BR-CL-10 ..."): for an extension document the
# replacing BR-DEX rule decides, not the core rule.
EXTENSION_OVERRIDES = frozenset({"BR-CO-16", "BR-CL-10", "BR-CL-21", "BR-CL-25", "BR-CL-26"})
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)


def rules_dir(explicit: str | Path | None = None) -> Path:
    """The official validation artefacts' folder; PermanentError saying how to get them."""
    value = explicit or os.environ.get(RULES_ENV)
    if not value:
        raise PermanentError(
            f"no e-invoice validation rules configured: set {RULES_ENV} to the folder holding "
            "en16931/ (the CEN/TC 434 validation artefacts, ConnectingEurope/eInvoicing-EN16931 "
            "releases) and xrechnung-schematron/ (KoSIT's XRechnung Schematron); nothing is "
            "sent without them",
            system="einvoice",
            code="no_rules",
        )
    root = Path(value)
    missing = [
        p for p in (EN16931_UBL, EN16931_CII, CII_XSD, XR_UBL, XR_CII) if not (root / p).is_file()
    ]
    if missing:
        raise PermanentError(
            f"{RULES_ENV}={root}: missing {', '.join(missing)}; point it at the folder with "
            "the official EN 16931 and XRechnung artefacts",
            system="einvoice",
            code="no_rules",
        )
    return root


@dataclass
class Report:
    """The verdict on one file: its syntax, declared specification and every finding."""

    file: str
    syntax: str  # "UBL Invoice", "UBL CreditNote", "CII", "unknown"
    container: str  # "xml" or "pdf"
    specification: str
    findings: list[Finding] = field(default_factory=list)
    xml: bytes = b""
    checks: list[str] = field(default_factory=list)  # the rule sets applied, in order

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "warning"]

    @property
    def valid(self) -> bool:
        return not self.errors

    def to_json(self) -> dict[str, Any]:
        verdict = "valid" if self.valid else "invalid"
        facts = ("syntax", "container", "specification", "checks")
        return {
            "file": self.file,
            "verdict": verdict,
            **{name: getattr(self, name) for name in facts},
            "errors": [f.to_json() for f in self.errors],
            "warnings": [f.to_json() for f in self.warnings],
        }


def invoice_xml(data: bytes, file: str = "<bytes>") -> bytes:
    """The invoice XML of a file: the file itself, or the XML a Factur-X/ZUGFeRD PDF carries."""
    if not data.startswith(b"%PDF"):
        return data
    from facturx import get_xml_from_pdf  # type: ignore[import-untyped]

    try:
        _name, xml = get_xml_from_pdf(data, check_xsd=False)
    except Exception as exc:  # noqa: BLE001 - the library raises bare exceptions
        raise PermanentError(f"{file}: cannot read the PDF: {exc}", system="einvoice") from exc
    if not xml:
        raise PermanentError(
            f"{file}: the PDF carries no invoice XML (factur-x.xml)", system="einvoice"
        )
    return bytes(xml)


class _Saxon:
    """One Saxon processor per process and the stylesheets it compiled, by path."""

    def __init__(self) -> None:
        from saxonche import PySaxonProcessor  # type: ignore[import-not-found]

        self.proc = PySaxonProcessor(license=False)
        self.compiled: dict[str, Any] = {}
        self.lock = threading.Lock()

    def executable(self, path: Path) -> Any:
        key = str(path)
        with self.lock:
            if key not in self.compiled:
                xslt = self.proc.new_xslt30_processor()
                if path.suffix == ".sch":
                    text = compile_schematron(path).decode()
                    self.compiled[key] = xslt.compile_stylesheet(stylesheet_text=text)
                else:
                    self.compiled[key] = xslt.compile_stylesheet(stylesheet_file=key)
            return self.compiled[key]

    def run(self, paths: list[Path], xml: bytes) -> list[str]:
        """The SVRL of each stylesheet on ``xml`` (parsed once for all of them)."""
        executables = [self.executable(p) for p in paths]
        with self.lock:
            node = self.proc.parse_xml(xml_text=xml.decode("utf-8"))
            return [str(e.transform_to_string(xdm_node=node)) for e in executables]


_SAXON: _Saxon | None = None
_XSD: dict[str, etree.XMLSchema] = {}


def _saxon() -> _Saxon:
    global _SAXON
    if _SAXON is None:
        _SAXON = _Saxon()
    return _SAXON


class Validator:
    """Checks documents against the rules in ``rules`` (see ``rules_dir``)."""

    def __init__(self, rules: Path):
        self.rules = rules

    def warm_up(self) -> None:
        """Compile every stylesheet and the XSD now (they are kept for the process)."""
        for rel in (EN16931_UBL, EN16931_CII, XR_UBL, XR_CII):
            _saxon().executable(self.rules / rel)
        self._xsd()

    def _xsd(self) -> etree.XMLSchema:
        key = str(self.rules / CII_XSD)
        if key not in _XSD:
            _XSD[key] = etree.XMLSchema(etree.parse(key, parser=_PARSER))
        return _XSD[key]

    def validate(self, data: bytes, file: str = "<bytes>") -> Report:
        """The report on one UBL/CII document or Factur-X/ZUGFeRD PDF."""
        if data.startswith(b"%PDF"):
            return self._validate_pdf(data, file)
        return self._validate_xml(data, file, "xml")

    def _validate_pdf(self, data: bytes, file: str) -> Report:
        from facturx import get_xml_from_pdf

        try:
            name, xml = get_xml_from_pdf(data, check_xsd=False)
        except Exception as exc:  # noqa: BLE001 - the library raises bare exceptions
            name, xml = None, None
            why = f"{exc.__class__.__name__}: {exc}"
        else:
            why = "no factur-x.xml / zugferd-invoice.xml / xrechnung.xml attachment"
        if not xml:
            report = Report(file, "unknown", "pdf", "")
            report.findings.append(
                Finding("PDF", "error", "/", f"no invoice XML in the PDF: {why}", "Factur-X")
            )
            return report
        report = self._validate_xml(xml, file, "pdf")
        report.findings.extend(check_pdfa3(data))  # a ZUGFeRD/Factur-X PDF is PDF/A-3
        report.checks.append("PDF/A-3 structure")
        if name not in ("factur-x.xml", "zugferd-invoice.xml", "xrechnung.xml"):
            report.findings.append(
                Finding(
                    "PDF",
                    "warning",
                    "/",
                    f"the embedded XML is named {name!r}, not factur-x.xml",
                    "Factur-X",
                )
            )
        return report

    def _validate_xml(self, xml: bytes, file: str, container: str) -> Report:
        try:
            root = etree.fromstring(xml, parser=_PARSER)
        except etree.XMLSyntaxError as exc:
            report = Report(file, "unknown", container, "", xml=xml)
            report.findings.append(Finding("XML", "error", f"line {exc.lineno}", str(exc), "XML"))
            return report
        ns = etree.QName(root).namespace
        if ns in (NS_INVOICE, NS_CREDIT):
            syntax = "UBL Invoice" if ns == NS_INVOICE else "UBL CreditNote"
            spec = (
                root.findtext(
                    "{urn:oasis:names:specification:ubl:schema:xsd:"
                    "CommonBasicComponents-2}CustomizationID"
                )
                or ""
            )
            checks = [(EN16931_UBL, "EN16931")] + (
                [(XR_UBL, "XRechnung")] if "xrechnung" in spec else []
            )
        elif ns == NS_CII:
            syntax, spec = "CII", _cii_guideline(root)
            checks = [(EN16931_CII, "EN16931")] + (
                [(XR_CII, "XRechnung")] if "xrechnung" in spec else []
            )
        else:
            report = Report(file, "unknown", container, "", xml=xml)
            report.findings.append(
                Finding(
                    "SYNTAX",
                    "error",
                    f"/{root.tag}",
                    "not a UBL 2.1 Invoice/CreditNote nor a CII CrossIndustryInvoice",
                    "XML",
                )
            )
            return report
        report = Report(file, syntax, container, spec, xml=xml)
        report.checks = [source for _rel, source in checks] + (
            ["CII XSD"] if syntax == "CII" else []
        )
        if syntax == "CII":
            schema = self._xsd()
            if not schema.validate(etree.ElementTree(root)):
                for err in schema.error_log:
                    report.findings.append(
                        Finding("XSD", "error", f"line {err.line}", err.message, "CII XSD")
                    )
        extension = XR_EXTENSION in spec
        outputs = _saxon().run([self.rules / rel for rel, _ in checks], xml)
        for (_rel, source), svrl in zip(checks, outputs, strict=True):
            report.findings.extend(
                f
                for f in parse_svrl(svrl, source)
                if not (extension and source == "EN16931" and f.rule in EXTENSION_OVERRIDES)
            )
        return report


def _cii_guideline(root: etree._Element) -> str:
    ram = "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"
    path = (
        f"{{{NS_CII}}}ExchangedDocumentContext/{{{ram}}}"
        f"GuidelineSpecifiedDocumentContextParameter/{{{ram}}}ID"
    )
    return root.findtext(path) or ""
