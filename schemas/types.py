"""Validated scalar types of the canonical model: GLN, GTIN, SSCC, VAT id, ISO codes, money."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from functools import lru_cache
from typing import Annotated, Any

import pycountry
from pydantic import AfterValidator, BeforeValidator, Field
from stdnum import ean, vatin
from stdnum.exceptions import ValidationError as StdnumError


def _digits(value: object) -> str | None:
    return str(value).strip().replace(" ", "") if value is not None else None


def _gs1_number(name: str, lengths: tuple[int, ...], digits: str) -> Callable[[str], str]:
    """A check that a value is a GS1 number (``digits`` long) with the right check digit."""

    def check(value: str) -> str:
        if len(value) not in lengths or not value.isdigit():
            raise ValueError(f"{name} {value!r} must be {digits} digits")
        if not ean.is_valid(value):
            expected = ean.calc_check_digit(value[:-1])
            raise ValueError(f"{name} {value!r} has a wrong check digit (expected {expected})")
        return value

    return check


_check_gln = _gs1_number("GLN", (13,), "13")
_check_gtin = _gs1_number("GTIN", (8, 12, 13, 14), "8, 12, 13 or 14")


def _check_sscc(value: str) -> str:
    # stdnum's ean.is_valid only takes 8/12/13/14 digits: check the GS1 mod-10 digit directly
    if len(value) != 18 or not value.isdigit() or ean.calc_check_digit(value[:-1]) != value[-1]:
        raise ValueError(f"SSCC {value!r} must be 18 digits with a valid GS1 check digit")
    return value


def _check_vat(value: str) -> str:
    compact = value.replace(" ", "").replace(".", "").replace("-", "").upper()
    try:
        return vatin.validate(compact)
    except StdnumError as exc:
        raise ValueError(f"VAT id {value!r} is not valid: {exc}") from exc


def _iso_code(name: str, database: Any, field: str, standard: str) -> Callable[[str], str]:
    """A check that a value is a code of ``database`` (``field``: alpha_2, alpha_3), upper-cased."""
    length = {"alpha_2": 2, "alpha_3": 3}[field]

    @lru_cache(maxsize=512)
    def known(code: str) -> bool:
        return database.get(**{field: code}) is not None

    def check(value: str) -> str:
        code = value.strip().upper()
        if len(code) != length or not known(code):
            raise ValueError(f"{name} {value!r} is not an {standard} code")
        return code

    return check


_check_currency = _iso_code("currency", pycountry.currencies, "alpha_3", "ISO 4217")
_check_country = _iso_code("country", pycountry.countries, "alpha_2", "ISO 3166-1 alpha-2")


def _check_email(value: str) -> str:
    text = value.strip()
    local, sep, domain = text.rpartition("@")
    if not sep or not local or "." not in domain or " " in text or domain.startswith("."):
        raise ValueError(f"email {value!r} is not a valid address")
    return local + "@" + domain.lower()


GLN = Annotated[str, BeforeValidator(_digits), AfterValidator(_check_gln)]
GTIN = Annotated[str, BeforeValidator(_digits), AfterValidator(_check_gtin)]
SSCC = Annotated[str, BeforeValidator(_digits), AfterValidator(_check_sscc)]
VatId = Annotated[str, AfterValidator(_check_vat)]
CurrencyCode = Annotated[str, AfterValidator(_check_currency)]
CountryCode = Annotated[str, AfterValidator(_check_country)]
Email = Annotated[str, AfterValidator(_check_email)]
Quantity = Annotated[Decimal, Field(gt=0, max_digits=18, decimal_places=6)]
Amount = Annotated[Decimal, Field(max_digits=18, decimal_places=6)]
Percent = Annotated[Decimal, Field(ge=0, le=100)]
