"""How strictly a partner's interchanges are judged: strict, standard or lenient.

``strict`` is the hub's historical behaviour (EANCOM as the hub reads it: a UNB party with
qualifier 14 must be a valid GLN). ``standard`` is ISO 9735 as written: a UNB identification
is not checked against GS1 rules (a warning names the doubtful GLN). ``lenient`` also
accepts, as warnings, the deviations real partners commonly send (``LENIENT_DEVIATIONS``);
everything else is judged as under ``standard``.
"""

from __future__ import annotations

from typing import Literal

Strictness = Literal["strict", "standard", "lenient"]
STRICTNESS_LEVELS: tuple[str, ...] = ("strict", "standard", "lenient")
WITHOUT_PARTNER: Strictness = "standard"  # `hub edi validate` without a partner: ISO 9735

LENIENT_DEVIATIONS: tuple[str, ...] = (
    "a UNB date of preparation in CCYYMMDD form under syntax version 1-3 (YYMMDD is "
    "required there), or YYMMDD under syntax version 4",
    "a UNB without syntax version number (0002): read as version 3",
    "a code outside the checked EANCOM code lists (1001, 1153, 2005, 3035, 6063, 6411, 7143, 4343)",
    "a UNB party with qualifier 14 whose identification is not a valid GLN (also under standard)",
)
"""The deviations ``lenient`` accepts, each reported as a warning."""


def is_strict(level: Strictness) -> bool:
    """Whether EANCOM identity rules on the envelope reject (``strict``) or only warn."""
    return level == "strict"
