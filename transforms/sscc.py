"""SSCC-18 serial shipping container codes from a GS1 company prefix and a serial number."""

from __future__ import annotations

from stdnum import ean


def sscc(company_prefix: str, serial: int, extension: int = 0) -> str:
    """The SSCC: extension digit, company prefix, serial reference, GS1 check digit (18 digits).

    The serial reference fills the 16 - len(prefix) digits left after the extension digit and
    the prefix; a serial that does not fit is an error (the prefix's number range is used up).
    """
    if not (company_prefix.isdigit() and 6 <= len(company_prefix) <= 12):
        raise ValueError(f"GS1 company prefix {company_prefix!r} must be 6 to 12 digits")
    if not 0 <= extension <= 9:
        raise ValueError(f"SSCC extension digit {extension} must be 0-9")
    width = 16 - len(company_prefix)
    if not 0 <= serial < 10**width:
        raise ValueError(
            f"serial {serial} does not fit the {width} digits left by GS1 prefix {company_prefix}"
        )
    body = f"{extension}{company_prefix}{serial:0{width}d}"
    return body + ean.calc_check_digit(body)


def is_valid(code: str) -> bool:
    """An 18-digit code with a correct GS1 check digit."""
    # stdnum's ean.is_valid stops at 14 digits; the GS1 mod-10 rule is the same for 18
    return len(code) == 18 and code.isdigit() and ean.calc_check_digit(code[:-1]) == code[-1]
