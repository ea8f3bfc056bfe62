"""HubSpot's v3 request signature: HMAC-SHA256 over method, URI, body and timestamp, base64.

HubSpot signs ``method + uri + body + timestamp`` (the timestamp in epoch milliseconds, also
sent as ``X-HubSpot-Request-Timestamp``) with the app's client secret and sends the base64
digest as ``X-HubSpot-Signature-v3``; a request whose timestamp is more than five minutes
old is refused (a replayed request). Written with the standard library's ``hmac`` (no
HubSpot SDK dependency for 20 lines); the comparison is constant-time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable
from urllib.parse import unquote

SIGNATURE_HEADER = "X-HubSpot-Signature-v3"
TIMESTAMP_HEADER = "X-HubSpot-Request-Timestamp"
MAX_AGE_MS = 5 * 60 * 1000
# HubSpot decodes these percent-escapes in the URI before signing
_DECODED = ("%3A", "%2F", "%3F", "%40", "%21", "%24", "%27", "%28", "%29", "%2A", "%2C", "%3B")


class SignatureError(ValueError):
    """Why a request is refused (stale, missing or wrong signature): safe to log."""


def canonical_uri(uri: str) -> str:
    """The URI as HubSpot signs it: the listed percent-escapes decoded, the rest kept."""
    out = uri
    for escape in _DECODED:
        out = out.replace(escape, unquote(escape)).replace(escape.lower(), unquote(escape))
    return out


def sign(secret: str, method: str, uri: str, body: bytes, timestamp_ms: int) -> str:
    """The v3 signature of one request."""
    message = method.upper().encode() + canonical_uri(uri).encode() + body
    message += str(timestamp_ms).encode()
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def verify(
    secret: str,
    method: str,
    uri: str,
    body: bytes,
    headers: dict[str, str],
    *,
    now_ms: Callable[[], int] = lambda: int(time.time() * 1000),
) -> None:
    """Raise ``SignatureError`` unless the request carries a fresh, valid v3 signature."""
    lowered = {k.lower(): v for k, v in headers.items()}
    given = lowered.get(SIGNATURE_HEADER.lower())
    stamp = lowered.get(TIMESTAMP_HEADER.lower(), "")
    if not given or not stamp.isdigit():
        raise SignatureError(f"missing {SIGNATURE_HEADER} or {TIMESTAMP_HEADER}")
    age = now_ms() - int(stamp)
    if age > MAX_AGE_MS:
        raise SignatureError(f"stale request: timestamp {stamp} is {age // 1000} s old")
    if age < -MAX_AGE_MS:
        raise SignatureError(f"timestamp {stamp} is {-age // 1000} s in the future")
    expected = sign(secret, method, uri, body, int(stamp))
    if not hmac.compare_digest(expected.encode(), given.encode()):
        raise SignatureError("the signature does not match (wrong secret or altered request)")
