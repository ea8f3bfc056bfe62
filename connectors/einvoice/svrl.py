"""Findings of a validation: SVRL (Schematron's report) and XSD errors as one readable type."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any, Literal

from lxml import etree

SVRL = "http://purl.oclc.org/dsdl/svrl"
PREFIXES = {
    "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2": "ubl",
    "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2": "cn",
    "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2": "cac",
    "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2": "cbc",
    "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100": "rsm",
    "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100": "ram",
    "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100": "udt",
    "urn:un:unece:uncefact:data:standard:QualifiedDataType:100": "qdt",
}
_EQNAME = re.compile(r"Q\{([^}]*)\}")
_WILDCARD = re.compile(r"\*:([\w.-]+)\[namespace-uri\(\)='([^']*)'\]")
Severity = Literal["error", "warning"]


def readable_location(location: str) -> str:
    """A Saxon path (``/Q{urn:...Invoice-2}Invoice[1]``) with prefixes (``/ubl:Invoice[1]``)."""
    text = _WILDCARD.sub(lambda m: f"{PREFIXES.get(m.group(2), '*')}:{m.group(1)}", location)
    return _EQNAME.sub(lambda m: f"{PREFIXES.get(m.group(1), '*')}:", text)


@dataclass(frozen=True)
class Finding:
    """One broken (or advisory) rule: which rule, where, what it says, how serious."""

    rule: str  # "BR-CO-15", "BR-DE-15", or "XSD"
    severity: Severity
    location: str
    text: str
    source: str  # "EN16931", "XRechnung", "CII XSD", "Factur-X"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def line(self) -> str:
        return f"{self.severity} {self.rule} at {self.location}: {self.text}"


def _severity(flag: str | None) -> Severity:
    return "warning" if (flag or "fatal").lower() in ("warning", "information", "info") else "error"


def parse_svrl(svrl: str | bytes, source: str) -> list[Finding]:
    """The failed asserts and successful reports of an SVRL document, in document order."""
    data = svrl.encode() if isinstance(svrl, str) else svrl
    root = etree.fromstring(data, parser=etree.XMLParser(resolve_entities=False, no_network=True))
    out: list[Finding] = []
    for el in root.iter(f"{{{SVRL}}}failed-assert", f"{{{SVRL}}}successful-report"):
        text_el = el.find(f"{{{SVRL}}}text")
        text = " ".join("".join(text_el.itertext()).split()) if text_el is not None else ""
        rule = el.get("id") or _rule_from_text(text) or "unnamed"
        out.append(
            Finding(
                rule,
                _severity(el.get("flag")),
                readable_location(el.get("location") or ""),
                text,
                source,
            )
        )
    return out


def _rule_from_text(text: str) -> str | None:
    match = re.match(r"\[([A-Z0-9-]+)\]", text)
    return match.group(1) if match else None
