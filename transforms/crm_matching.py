"""Normalising identities for CRM <-> ERP matching: email, VAT (python-stdnum), GLN, name, postcode.

Pure: the same input always gives the same key. A value that cannot be a valid identity
raises ``InvalidField`` naming the CRM property and the reason, so the record can be
dead-lettered for a person instead of matched by a guess.
"""

from __future__ import annotations

import re
import unicodedata

from stdnum import ean, vatin
from stdnum.exceptions import ValidationError as StdnumError

from schemas.errors import PermanentError

_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_LOCAL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+$")
_PUNCT = re.compile(r"[^\w\s]", re.UNICODE)
_SPACE = re.compile(r"\s+")


class InvalidField(PermanentError):
    """A CRM record's property cannot be accepted: ``field`` names it, the message says why."""

    def __init__(self, field: str, reason: str, *, record: str | None = None) -> None:
        where = f"crm record {record} " if record else ""
        super().__init__(f"{where}property {field!r}: {reason}", system="crm", code="invalid")
        self.field = field
        self.reason = reason


def normalise_email(value: str, *, field: str = "email", record: str | None = None) -> str:
    """Lower-case, trimmed address; strict syntax (no empty labels, an alphabetic TLD)."""
    text = value.strip()
    local, sep, domain = text.rpartition("@")
    domain = domain.lower().rstrip(".")
    labels = domain.split(".")
    if (
        not sep
        or not local
        or not _LOCAL.match(local)
        or local.startswith(".")
        or local.endswith(".")
        or ".." in local
        or len(labels) < 2
        or not all(_LABEL.match(label) for label in labels)
        or not labels[-1].isalpha()
        or len(labels[-1]) < 2
    ):
        raise InvalidField(field, f"{value!r} is not a valid email address", record=record)
    return f"{local.lower()}@{domain}"


def normalise_vat(
    value: str, country: str | None = None, *, field: str = "hub_vat", record: str | None = None
) -> str:
    """The compact VAT id with its country prefix, checked by python-stdnum (check digits too).

    A number without a prefix gets the company's country (``DE`` + ``136695976``).
    """
    compact = re.sub(r"[\s.\-/]", "", value).upper()
    if not compact:
        raise InvalidField(field, "is empty", record=record)
    candidates = [compact]
    if country and not compact[:2].isalpha():
        candidates.insert(0, country.upper() + compact)
    last: Exception | None = None
    for candidate in candidates:
        try:
            return str(vatin.validate(candidate))
        except StdnumError as exc:
            last = exc
    raise InvalidField(field, f"VAT id {value!r} fails its check ({last})", record=record)


def normalise_gln(value: str, *, field: str = "hub_gln", record: str | None = None) -> str:
    """A 13-digit GLN with a valid GS1 check digit."""
    digits = value.strip().replace(" ", "")
    if len(digits) != 13 or not digits.isdigit() or not ean.is_valid(digits):
        raise InvalidField(
            field, f"GLN {value!r} must be 13 digits with a valid check digit", record=record
        )
    return digits


def name_key(name: str) -> str:
    """Case-, accent-, punctuation- and spacing-insensitive form of a name, for matching only."""
    text = unicodedata.normalize("NFKD", name)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).casefold()
    return _SPACE.sub(" ", _PUNCT.sub(" ", text)).strip()


def postcode_key(value: str) -> str:
    """Postcode without spaces, upper-case."""
    return value.replace(" ", "").upper()


def slug(text: str) -> str:
    """A stable key part from free text (contact names without an email)."""
    return name_key(text).replace(" ", "-") or "unnamed"
