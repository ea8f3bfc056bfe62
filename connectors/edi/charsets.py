"""UNB syntax identifiers (data element 0001): Python codec, repertoire and mismatch policy."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

CharsetPolicy = Literal["strict", "utf8-fallback", "lenient"]
"""What to do with bytes that do not match the declared syntax identifier.

``strict``: a syntax error 21 (invalid character) on the segment, the message is rejected.
``utf8-fallback``: decode the segment as UTF-8 (many partners declare UNOA/UNOC and send
UTF-8) and report a warning. ``lenient``: decode as declared, replacing undecodable bytes,
and report a warning.
"""

CHARSET_POLICIES: tuple[str, ...] = ("strict", "utf8-fallback", "lenient")
DEFAULT_CHARSET_POLICY: CharsetPolicy = "strict"  # `hub edi validate` without a partner

# Level A: ISO 646 upper case letters, digits, space and these punctuation characters.
_LEVEL_A = rb"A-Z0-9 .,\-()/='+:?!\"%&*;<>"
# Level B: ISO 646 printable characters plus the level B default separators (IS1, IS3, IS4).
_LEVEL_B = rb"\x20-\x7e\x1c\x1d\x1f"


@dataclass(frozen=True, slots=True)
class SyntaxCharset:
    """How the bytes of an interchange declaring ``identifier`` are decoded and checked."""

    identifier: str
    codec: str
    description: str
    repertoire: bytes | None = None  # regex class body of allowed bytes (ASCII levels only)
    single_byte: bool = True

    def invalid_bytes(self, extra: bytes) -> re.Pattern[bytes] | None:
        """A regex for bytes outside the repertoire (``extra``: the interchange's delimiters)."""
        if self.repertoire is None:
            return None
        return re.compile(b"[^" + self.repertoire + re.escape(extra) + b"]")


SYNTAX_CHARSETS: dict[str, SyntaxCharset] = {
    c.identifier: c
    for c in (
        SyntaxCharset("UNOA", "ascii", "UN/ECE level A (ISO 646 upper case)", _LEVEL_A),
        SyntaxCharset("UNOB", "ascii", "UN/ECE level B (ISO 646)", _LEVEL_B),
        SyntaxCharset("UNOC", "latin-1", "UN/ECE level C (ISO 8859-1)"),
        SyntaxCharset("UNOD", "iso8859_2", "UN/ECE level D (ISO 8859-2)"),
        SyntaxCharset("UNOE", "iso8859_5", "UN/ECE level E (ISO 8859-5)"),
        SyntaxCharset("UNOF", "iso8859_7", "UN/ECE level F (ISO 8859-7)"),
        SyntaxCharset("UNOG", "iso8859_3", "UN/ECE level G (ISO 8859-3)"),
        SyntaxCharset("UNOH", "iso8859_4", "UN/ECE level H (ISO 8859-4)"),
        SyntaxCharset("UNOI", "iso8859_6", "UN/ECE level I (ISO 8859-6)"),
        SyntaxCharset("UNOJ", "iso8859_8", "UN/ECE level J (ISO 8859-8)"),
        SyntaxCharset("UNOK", "iso8859_9", "UN/ECE level K (ISO 8859-9)"),
        # UNOL (ISO 8859-15, Latin 9) is used by French EDI-TDFC senders (see sage_coala.ped).
        SyntaxCharset("UNOL", "iso8859_15", "level L (ISO 8859-15)"),
        SyntaxCharset("UNOY", "utf-8", "UN/ECE level Y (ISO 10646, UTF-8)", single_byte=False),
        SyntaxCharset("UNOW", "utf-8", "UN/ECE level W (ISO 10646 UTF-8)", single_byte=False),
        # IATA syntax identifiers (airline EDIFACT): level A and level B repertoires.
        SyntaxCharset("IATA", "ascii", "IATA level A", _LEVEL_A),
        SyntaxCharset("IATB", "ascii", "IATA level B", _LEVEL_B),
    )
}


def lookup(identifier: str) -> SyntaxCharset | None:
    """The charset for a UNB 0001 value, or None when the hub does not support it."""
    return SYNTAX_CHARSETS.get(identifier.strip().upper())
