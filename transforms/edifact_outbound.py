"""Shared vocabulary of the outbound EANCOM builders: missing-data errors, numbers, dates, NAD."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from schemas.errors import PermanentError
from schemas.model import CENT

SegmentTuple = tuple[object, ...]


class MissingField(PermanentError):
    """ERP data cannot make a valid document: names the document, the record and the field."""

    def __init__(self, document: str, record: str, field: str, hint: str = "") -> None:
        message = f"{document}: {record}: missing field {field}"
        if hint:
            message += f": {hint}"
        super().__init__(message, system="edi", code="missing_field")
        self.document = document
        self.record = record
        self.field = field


def num(value: Decimal, decimal_mark: str = ".") -> str:
    """A quantity or price without trailing zeros, in the partner's decimal mark."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    if text in ("-0", ""):
        text = "0"
    return text.replace(".", decimal_mark)


def money(value: Decimal, decimal_mark: str = ".") -> str:
    """An amount to the cent, exactly as the ERP rounded it (two decimals, never a float)."""
    return format(value.quantize(CENT), "f").replace(".", decimal_mark)


def dtm(qualifier: str, day: date) -> SegmentTuple:
    """DTM with a CCYYMMDD (102) date."""
    return ("DTM", [qualifier, day.strftime("%Y%m%d"), "102"])


def nad(qualifier: str, gln: str) -> SegmentTuple:
    """NAD identifying a party by GLN (code list agency 9 = GS1)."""
    return ("NAD", qualifier, [gln, "", "9"])
