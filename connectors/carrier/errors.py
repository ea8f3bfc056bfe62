"""Translate zeep/requests failures of a carrier call into the hub's error types, at the boundary.

The rule that matters: a call that creates a shipment is not idempotent at the carrier. Once
its request may have reached the carrier, a lost or unreadable answer is an
OutcomeUnknownError (reconcile, never resend blindly). Only failures that prove nothing was
done are transient for a create: the connection was never made, a 502/503/429, or a
``soap:Server`` fault (the carrier answered that it did not process the request).
Reads (getVersion, tracking) are safe to repeat, so their timeouts and 5xx are transient.

Hostile answers (DTD, entity declarations: billion laughs, XXE) are refused by zeep's
hardened parser before any expansion (``DTDForbidden`` / ``EntitiesForbidden``); they become
a PermanentError for reads (a carrier endpoint sending DTDs is misconfigured or compromised:
alert, do not hammer it) and OutcomeUnknownError for creates (it may have booked the parcel).
"""

from __future__ import annotations

from dataclasses import dataclass

import requests
from zeep.exceptions import (
    DTDForbidden,
    EntitiesForbidden,
    Fault,
    TransportError,
    ValidationError,
    XMLSyntaxError,
)

from connectors.http import never_sent, parse_retry_after, redact_url
from schemas.errors import HubError, OutcomeUnknownError, PermanentError, TransientError

AUTH_WORDS = ("authenticat", "login failed", "password", "credential")


def _hostile(content: bytes | str | None) -> bool:
    """True when an answer carries a DTD or entity declarations (bomb, XXE)."""
    if not content:
        return False
    head = content[:4096] if isinstance(content, bytes) else content[:4096].encode()
    return b"<!DOCTYPE" in head or b"<!ENTITY" in head


def auth_error(system: str, detail: str, fix: str) -> PermanentError:
    """An alert-worthy credentials failure: permanent until someone fixes the connection."""
    return PermanentError(
        f"ALERT: carrier refused our credentials ({detail}); {fix}", system=system, code="auth"
    )


@dataclass(frozen=True)
class _Call:
    """What a failed call was: where, whether it creates, and how to word its errors."""

    system: str
    where: str
    subject: str
    creates: bool
    credentials_fix: str

    def unknown(self, why: str, code: str) -> OutcomeUnknownError:
        return OutcomeUnknownError(
            f"{self.subject}{self.where}: the request may have been processed but the answer "
            f"was lost ({why}); outcome unknown, reconcile with the carrier before creating "
            "again",
            system=self.system,
            code=code,
        )


def translate(
    exc: Exception,
    *,
    system: str,
    operation: str,
    url: str,
    creates: bool,
    reference: str | None = None,
    response: requests.Response | None = None,
    credentials_fix: str = "renew the credentials and update the carrier connection",
) -> HubError:
    """The hub error for a failed carrier call (``raise translate(...) from exc``)."""
    call = _Call(
        system=system,
        where=f"{operation} at {redact_url(url)}",
        subject=f"shipment {reference}: " if reference else "",
        creates=creates,
        credentials_fix=credentials_fix,
    )
    if isinstance(exc, HubError):
        return exc
    if isinstance(exc, requests.RequestException):
        return _request_error(exc, call)
    if isinstance(exc, Fault) and not exc.code and response is not None:
        # zeep reads any XML-ish error page (e.g. an HTML 401/500) as a code-less Fault
        exc = TransportError(exc.message, status_code=response.status_code)
    if isinstance(exc, TransportError) and _hostile(exc.content):
        # libxml2 may refuse a bomb itself ("amplification factor exceeded") before zeep's
        # DTD check runs; either way nothing was expanded
        exc = DTDForbidden("response", None, None)
    if isinstance(exc, Fault):
        return _fault(exc, call)
    if isinstance(exc, DTDForbidden | EntitiesForbidden):
        why = f"answer carried a DTD/entity declaration ({type(exc).__name__}), refused unexpanded"
        if creates:
            return call.unknown(why, "hostile")
        return PermanentError(
            f"{call.where}: {why}; the endpoint is misconfigured or hostile, check it before "
            "retrying",
            system=system,
            code="hostile",
        )
    if isinstance(exc, TransportError):
        retry_after = None
        if response is not None:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
        return _transport(exc, call, retry_after)
    if isinstance(exc, XMLSyntaxError):
        why = f"answer is not a SOAP envelope: {exc.message}"
        if creates:
            return call.unknown(why, "syntax")
        return TransientError(f"{call.where}: {why}", system=system, code="syntax")
    if isinstance(exc, ValidationError):
        return PermanentError(
            f"{call.subject}request for {call.where} does not fit the WSDL: {exc.message} "
            f"(path {'.'.join(str(p) for p in exc.path or [])}); fix the mapping",
            system=system,
            code="request",
        )
    return PermanentError(f"{call.subject}{call.where} failed unexpectedly: {exc!r}", system=system)


def _request_error(exc: requests.RequestException, call: _Call) -> HubError:
    if never_sent(exc):
        return TransientError(
            f"{call.subject}cannot connect for {call.where}: {type(exc).__name__}",
            system=call.system,
        )
    why = f"{type(exc).__name__}"
    if call.creates:
        return call.unknown(why, "unknown")
    return TransientError(f"{call.where} failed: {why}", system=call.system)


def _fault(exc: Fault, call: _Call) -> HubError:
    code = str(exc.code or "")
    text = str(exc.message or "")
    lowered = f"{code} {text}".lower()
    if any(word in lowered for word in AUTH_WORDS):
        return auth_error(call.system, f"{code}: {text}", call.credentials_fix)
    if "client" in code.lower():
        return PermanentError(
            f"{call.subject}carrier rejected {call.where} as invalid: {text}",
            system=call.system,
            code="fault",
        )
    return TransientError(
        f"{call.subject}carrier fault on {call.where}: {code} {text}",
        system=call.system,
        code="fault",
    )


def _transport(exc: TransportError, call: _Call, retry_after: float | None) -> HubError:
    status = exc.status_code
    if status in (401, 403):
        return auth_error(call.system, f"HTTP {status}", call.credentials_fix)
    if status in (429, 502, 503):
        return TransientError(
            f"{call.subject}{call.where} answered HTTP {status}",
            system=call.system,
            code=str(status),
            retry_after=retry_after,
        )
    if status == 200 or status >= 500:
        why = f"HTTP {status}, unreadable answer" if status == 200 else f"HTTP {status}"
        if call.creates:
            return call.unknown(why, str(status))
        return TransientError(f"{call.where} failed: {why}", system=call.system, code=str(status))
    return PermanentError(
        f"{call.subject}{call.where} answered HTTP {status}", system=call.system, code=str(status)
    )
