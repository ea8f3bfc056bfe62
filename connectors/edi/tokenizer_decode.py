"""Segment bytes to text by the UNB syntax identifier and the charset policy, with findings."""

from __future__ import annotations

import re

from connectors.edi.charsets import CharsetPolicy, SyntaxCharset
from connectors.edi.errors import Issue, SyntaxCode


def decode_segment(
    piece: bytes,
    charset: SyntaxCharset | None,
    bad_bytes: re.Pattern[bytes] | None,
    policy: CharsetPolicy,
    strict_repertoire: bool,
) -> tuple[str, Issue | None]:
    """Decode one segment by the interchange's syntax identifier and policy.

    ``bad_bytes`` matches ASCII bytes outside the declared repertoire (None: any ASCII is
    fine); ``strict_repertoire`` makes those an error instead of a warning.
    """
    if piece.isascii():
        text = piece.decode("ascii")
        if bad_bytes is not None and bad_bytes.search(piece):
            bad = bad_bytes.search(piece)
            assert bad is not None
            char = bad.group().decode("ascii")
            declared = charset.identifier if charset else "?"
            return text, charset_issue(
                policy,
                f"character {char!r} is not in the {declared} repertoire declared in UNB; "
                f"send it in upper case/allowed punctuation or declare a wider syntax "
                f"identifier (e.g. UNOC)",
                warning=not strict_repertoire,
            )
        return text, None
    if charset is None:
        return piece.decode("utf-8", "replace"), None
    return _decode_8bit(piece, charset, policy)


def _decode_8bit(
    piece: bytes, cs: SyntaxCharset, policy: CharsetPolicy
) -> tuple[str, Issue | None]:
    """Bytes beyond ASCII against a declared character set."""
    try:
        utf8 = piece.decode("utf-8")
    except UnicodeDecodeError:
        utf8 = None
    if cs.codec == "utf-8":
        if utf8 is not None:
            return utf8, None
        return piece.decode("utf-8", "replace"), charset_issue(
            policy,
            f"bytes are not valid UTF-8 although UNB declares {cs.identifier}; "
            "re-send the file encoded as UTF-8 or declare the character set it uses",
        )
    if utf8 is not None:
        note = (
            f"bytes are UTF-8 but UNB declares {cs.identifier} ({cs.description}); "
            f"re-send encoded as {cs.identifier} or declare UNOY/UNOW"
        )
        if policy == "utf8-fallback":
            return utf8, charset_issue(policy, note + " (decoded as UTF-8)", warning=True)
        text = piece.decode(cs.codec, "replace")
        return text, charset_issue(policy, note)
    if cs.codec == "ascii":
        text = piece.decode("latin-1")
        return text, charset_issue(
            policy,
            f"bytes outside ISO 646 although UNB declares {cs.identifier}; "
            "re-send in the declared character set or declare UNOC/UNOY",
        )
    try:
        return piece.decode(cs.codec), None
    except UnicodeDecodeError:
        return piece.decode(cs.codec, "replace"), charset_issue(
            policy,
            f"bytes not defined in {cs.identifier} ({cs.description}); "
            "re-send in the declared character set",
        )


def charset_issue(policy: CharsetPolicy, text: str, *, warning: bool = False) -> Issue:
    """A character set finding: an error only under the strict policy (or when not a warning)."""
    is_warning = warning or policy != "strict"
    return Issue(SyntaxCode.INVALID_CHARACTER, "segment", text, warning=is_warning)
