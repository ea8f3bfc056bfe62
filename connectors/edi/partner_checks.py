"""Checks of a partner's files against its profile and the ERP's parties and products.

For ``hub edi validate --partner``: the interchange must come from the partner (UNB sender,
23) to us (UNB recipient, 7) in the agreed syntax (identifier and version, 2), decimal mark
(19) and test policy (25); each message type must be agreed (14); the buyer and delivery
GLNs and the line GTINs must be known to the ERP (or mapped in the profile). ERP findings
carry application error codes, the ones an APERAK would send (``BUYER``, ``DELIV``,
``GTIN``), not ISO 9735 syntax codes. ERP lookups are batched per message and remembered
for the whole run, so a file of a thousand orders over the same catalogue costs a handful of
calls.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from connectors.edi.errors import Issue, SyntaxCode, unb_issue
from connectors.edi.tokenizer import InterchangeHeader, Message
from connectors.edi.tokenizer_segments import Segment
from connectors.erp.port import ErpPort
from schemas.config import PartnerProfile
from schemas.errors import HubError

# Application error codes (APERAK ERC 9321, as transforms.edifact_orders.AppError uses them).
APP_UNKNOWN_BUYER = "BUYER"
APP_UNKNOWN_DELIVERY = "DELIV"
APP_UNKNOWN_GTIN = "GTIN"

# NAD qualifiers the mapping resolves to ERP parties, with the application code for each.
_PARTY_CODES = {"BY": (APP_UNKNOWN_BUYER, "buyer"), "DP": (APP_UNKNOWN_DELIVERY, "delivery party")}


def _identity_issue(
    unb: Segment,
    element: int,
    code: SyntaxCode,
    agreed: tuple[str, str],
    say: Callable[[str, str], str],
) -> Issue | None:
    """UNB ``element`` (identification, qualifier) against the ``agreed`` pair: None when it
    matches, else the finding on the first component that differs; ``say(got, agreed)``
    words it."""
    got = unb.element(element, 1), unb.element(element, 2)
    if got == agreed:
        return None
    return unb_issue(
        code,
        element,
        1 if got[0] != agreed[0] else 2,
        say(f"{got[0]}:{got[1] or '?'}", f"{agreed[0]}:{agreed[1]}"),
    )


class PartnerChecks:
    """The checks for one partner: ``interchange`` per UNB, ``message`` per message.

    ``erp`` is any ``ErpPort`` (the Tryton connector, or ``FakeErp`` in tests); None checks
    the profile only. An ERP failure does not stop validation: it is reported once as a
    warning and the remaining messages are checked against the profile only.
    """

    def __init__(self, profile: PartnerProfile, erp: ErpPort | None = None) -> None:
        self.profile = profile
        self.erp = erp
        self.erp_error: str | None = None
        self._gln_known: dict[str, bool] = {g: True for g in profile.party_lookup}
        self._gtin_known: dict[str, bool] = {}

    # -- interchange --------------------------------------------------------------------
    def interchange(self, header: InterchangeHeader) -> list[Issue]:
        """UNB against the profile: sender, recipient, syntax, decimal mark, test indicator."""
        p = self.profile
        unb = header.unb
        issues: list[Issue] = []
        sender = _identity_issue(
            unb,
            2,
            SyntaxCode.UNKNOWN_SENDER,
            (p.unb.partner_id, p.unb.partner_qualifier),
            lambda got, agreed: (
                f"UNB sender {got} is not partner {p.id} ({agreed}): wrong "
                "partner or wrong sender identification"
            ),
        )
        recipient = _identity_issue(
            unb,
            3,
            SyntaxCode.RECIPIENT_NOT_ACTUAL,
            (p.unb.our_id, p.unb.our_qualifier),
            lambda got, agreed: f"UNB recipient {got} is not us as agreed with {p.id} ({agreed})",
        )
        issues.extend(i for i in (sender, recipient) if i is not None)
        if header.syntax_identifier != p.syntax_identifier:
            issues.append(
                unb_issue(
                    SyntaxCode.SYNTAX_VERSION_NOT_SUPPORTED,
                    1,
                    1,
                    f"syntax identifier {header.syntax_identifier or '(none)'} is not the "
                    f"{p.syntax_identifier} agreed with {p.id}",
                )
            )
        if header.syntax_version != p.syntax_version:
            issues.append(
                unb_issue(
                    SyntaxCode.SYNTAX_VERSION_NOT_SUPPORTED,
                    1,
                    2,
                    f"syntax version {header.syntax_version or '(none)'} is not the version "
                    f"{p.syntax_version} agreed with {p.id}",
                )
            )
        decimal = header.delimiters.decimal
        if decimal != p.decimal_mark:
            declared = "declared in UNA" if header.una else "the default, no UNA"
            issues.append(
                Issue(
                    SyntaxCode.INVALID_DECIMAL_NOTATION,
                    "interchange",
                    f"decimal mark {decimal!r} ({declared}) is not the {p.decimal_mark!r} "
                    f"agreed with {p.id}",
                    0 if header.una else 1,
                    "UNA" if header.una else "UNB",
                )
            )
        if unb.element(11) == "1" and not p.accept_test_interchanges:
            issues.append(
                unb_issue(
                    SyntaxCode.TEST_INDICATOR_NOT_SUPPORTED,
                    11,
                    None,
                    f"test interchanges are not accepted from {p.id}",
                )
            )
        if not p.active:
            issues.append(
                unb_issue(
                    SyntaxCode.UNKNOWN_SENDER,
                    2,
                    1,
                    f"partner {p.id} is not active (active: false in its profile)",
                )
            )
        return issues

    # -- message ------------------------------------------------------------------------
    def message(self, header: InterchangeHeader, msg: Message) -> list[Issue]:
        """Message type agreed; buyer/delivery GLNs and GTINs known to the ERP."""
        issues: list[Issue] = []
        if not self.profile.accepts(msg.type):
            agreed = ", ".join(m.label for m in self.profile.messages)
            issues.append(
                Issue(
                    SyntaxCode.NO_AGREEMENT,
                    "message",
                    f"message type {msg.type[:70]} is not agreed with {self.profile.id} "
                    f"(agreed: {agreed})",
                    1,
                    "UNH",
                    2,
                )
            )
            return issues
        if self.erp is None or self.erp_error is not None:
            return issues
        parties: list[tuple[int, str, str]] = []  # position, qualifier, GLN
        items: list[tuple[int, str]] = []  # position, GTIN
        for index, seg in enumerate(msg.segments):
            if seg.tag == "NAD" and seg.element(1) in _PARTY_CODES and seg.element(2):
                parties.append((index + 2, seg.element(1), seg.element(2)))
            elif seg.tag == "LIN" and seg.element(3):
                items.append((index + 2, seg.element(3)))
        try:
            self._lookup_parties(g for _, _, g in parties)
            self._lookup_products(g for _, g in items)
        except HubError as exc:
            self.erp_error = str(exc)
            return [
                Issue(
                    SyntaxCode.UNSPECIFIED,
                    "message",
                    f"ERP lookup failed ({exc}): parties and products are not checked from here on",
                    warning=True,
                )
            ]
        for position, qualifier, gln in parties:
            if not self._gln_known[gln]:
                code, name = _PARTY_CODES[qualifier]
                issues.append(
                    Issue(
                        code,
                        "element",
                        f"application error {code}: {name} GLN {gln} (NAD+{qualifier}) is not "
                        "a party in the ERP nor in the profile's party_lookup",
                        position,
                        "NAD",
                        2,
                        1,
                    )
                )
        for position, gtin in items:
            if not self._gtin_known[gtin]:
                issues.append(
                    Issue(
                        APP_UNKNOWN_GTIN,
                        "element",
                        f"application error {APP_UNKNOWN_GTIN}: GTIN {gtin} is not a product "
                        "in the ERP nor in the profile's product_lookup",
                        position,
                        "LIN",
                        3,
                        1,
                    )
                )
        return issues

    def _lookup_parties(self, glns: Iterable[str]) -> None:
        assert self.erp is not None
        _batch(self._gln_known, glns, self.erp.find_parties_by_gln)

    def _lookup_products(self, gtins: Iterable[str]) -> None:
        assert self.erp is not None
        mapped = self.profile.product_lookup
        wanted = [g for g in dict.fromkeys(gtins) if g not in self._gtin_known]
        by_code = {g: mapped[g] for g in wanted if g in mapped}
        if by_code:
            found = self.erp.find_products_by_code(sorted(set(by_code.values())))
            for gtin, code in by_code.items():
                self._gtin_known[gtin] = code in found
        _batch(
            self._gtin_known,
            [g for g in wanted if g not in by_code],
            self.erp.find_products_by_gtin,
        )


def _batch(
    known: dict[str, bool], values: Iterable[str], find: Callable[[list[str]], Mapping[str, object]]
) -> None:
    """Look up the values not seen yet in one call; remember the answer for each."""
    wanted = [v for v in dict.fromkeys(values) if v not in known]
    if not wanted:
        return
    found = find(wanted)
    for value in wanted:
        known[value] = value in found
