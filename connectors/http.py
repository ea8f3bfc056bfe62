"""Shared HTTP session factory and retry policy: classify failures, honour Retry-After, bounded.

urllib3's Retry neither retries POST nor classifies errors the way the hub needs, so the
policy lives here as data (which statuses, which transport errors, whether the call is
idempotent) and is applied with tenacity.
"""

from __future__ import annotations

import email.utils
import logging
import ssl
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import requests
from tenacity import (
    RetryCallState,
    retry,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
)

from schemas.errors import HubError, OutcomeUnknownError, PermanentError, TransientError

log = logging.getLogger(__name__)

T = TypeVar("T")

RETRYABLE_STATUS = frozenset({429, 502, 503, 504})
SERVER_ERROR_STATUS = frozenset({500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try: attempts, backoff and the cap on a server-requested wait."""

    attempts: int = 5
    base_delay: float = 0.2
    max_delay: float = 10.0
    max_retry_after: float = 30.0
    total_timeout: float = 120.0

    def wait_for(self, attempt: int, exc: BaseException | None) -> float:
        """Seconds to wait before the next attempt (exponential, or the server's Retry-After)."""
        if isinstance(exc, TransientError) and exc.retry_after is not None:
            return min(max(exc.retry_after, 0.0), self.max_retry_after)
        return min(self.base_delay * (2 ** max(attempt - 1, 0)), self.max_delay)


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Retry-After as seconds, from either delta-seconds or an HTTP date; None if absent/bad."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    current = time.time() if now is None else now
    return max(when.timestamp() - current, 0.0)


def redact_url(url: str) -> str:
    """Drop query strings and userinfo from a URL before it reaches a log or an error."""
    base = url.split("?", 1)[0]
    if "@" in base.split("//", 1)[-1].split("/", 1)[0]:
        scheme, rest = base.split("//", 1)
        base = scheme + "//" + rest.split("@", 1)[1]
    return base


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and every error beneath it (causes, contexts, urllib3's ``reason``, errors
    passed as arguments), each once."""
    seen: set[int] = set()
    stack: list[Any] = [exc]
    while stack:
        item = stack.pop()
        if not isinstance(item, BaseException) or id(item) in seen:
            continue
        seen.add(id(item))
        yield item
        stack.extend([item.__cause__, item.__context__, getattr(item, "reason", None)])
        stack.extend(arg for arg in item.args if isinstance(arg, BaseException))


def never_sent(exc: BaseException) -> bool:
    """True when the connection was never established, so the request cannot have arrived."""
    from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

    if isinstance(exc, requests.ConnectTimeout):
        return True
    unsent = (NewConnectionError, ConnectTimeoutError, ConnectionRefusedError)
    return any(isinstance(item, unsent) for item in _chain(exc))


def _certificate_refused(exc: BaseException) -> str | None:
    """The reason when the TLS handshake refused the server's certificate (so the request
    never left, and trying again changes nothing until someone fixes the certificate or
    the CA bundle), else None."""
    for item in _chain(exc):
        if isinstance(item, ssl.SSLCertVerificationError):
            return str(item.verify_message or item.reason or item)
    return None


# requests raises these while it builds the request, before a byte goes out: a bad URL,
# header or body is a bug or a wrong setting, and trying again changes nothing
_UNSENDABLE = (
    requests.exceptions.URLRequired,
    requests.exceptions.MissingSchema,
    requests.exceptions.InvalidSchema,
    requests.exceptions.InvalidURL,
    requests.exceptions.InvalidHeader,
    requests.exceptions.InvalidJSONError,
)
# the request may have arrived and the answer is missing: it timed out, the connection was
# dropped or reset before or while it came (RemoteDisconnected, ConnectionResetError,
# IncompleteRead, a read timeout mid-body), or it could not be decoded
_ANSWER_LOST = (
    requests.Timeout,
    requests.ConnectionError,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)


def translate_transport_error(
    exc: requests.RequestException, *, system: str, url: str, idempotent: bool
) -> HubError:
    """Map a requests exception to Transient/Permanent/OutcomeUnknown, naming system and URL.

    A call that never left (connect refused, connect timeout, DNS failure) is always safe to
    retry; one requests refused to build is permanent. Once the request may have reached the
    server, a lost answer (read timeout, connection dropped or reset, body cut off or
    undecodable) is transient for an idempotent call, and for a non-idempotent one the outcome
    is unknown: reconcile, never repeat blindly and never report it as a refusal.
    """
    where = redact_url(url)
    name = exc.__class__.__name__
    if never_sent(exc):
        return TransientError(f"cannot connect to {where}: {name}", system=system)
    untrusted = _certificate_refused(exc)
    if untrusted is not None:
        return PermanentError(
            f"cannot verify the TLS certificate of {where} ({untrusted}): nothing was sent; "
            "fix the server's certificate or the CA bundle (REQUESTS_CA_BUNDLE)",
            system=system,
            code="tls",
        )
    if isinstance(exc, _UNSENDABLE) and not isinstance(exc, requests.JSONDecodeError):
        return PermanentError(f"cannot send to {where}: {exc}", system=system)
    if not idempotent:
        return OutcomeUnknownError(
            f"no answer from {where} after sending a non-idempotent call "
            f"({name}): outcome unknown, reconcile before retrying",
            system=system,
        )
    if isinstance(exc, _ANSWER_LOST):
        return TransientError(f"{name} talking to {where}: answer lost", system=system)
    # it answered, but nothing usable (too many redirects...): trying again changes nothing
    return PermanentError(f"HTTP error talking to {where}: {exc}", system=system)


def classify_status(
    response: requests.Response, *, system: str, idempotent: bool, detail: str = ""
) -> HubError | None:
    """None for 2xx/3xx; otherwise the hub error that the status means."""
    status = response.status_code
    if status < 400:
        return None
    where = redact_url(response.url or "")
    text = detail or (response.text[:300] if response.text else "")
    if status == 429:
        return TransientError(
            f"rate limited by {where} (429)",
            system=system,
            code="429",
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
        )
    if status in SERVER_ERROR_STATUS and (idempotent or status in {502, 503}):
        # 502/503 mean the request did not reach a worker; 500/504 may have done the write
        return TransientError(
            f"{where} answered {status}",
            system=system,
            code=str(status),
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
        )
    if status in (401, 403):
        return PermanentError(
            f"{where} refused the credentials ({status}): check the connection's login/token",
            system=system,
            code=str(status),
        )
    if status >= 500:
        return OutcomeUnknownError(
            f"{where} answered {status} to a non-idempotent call: reconcile before retrying",
            system=system,
            code=str(status),
        )
    return PermanentError(f"{where} answered {status}: {text}", system=system, code=str(status))


def with_retries(
    func: Callable[[], T],
    policy: RetryPolicy | None = None,
    *,
    on_retry: Callable[[BaseException, int], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Call ``func`` until it succeeds, raises a non-retryable error or the policy runs out."""
    pol = policy or RetryPolicy()

    def _wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        delay = pol.wait_for(state.attempt_number, exc)
        if on_retry and exc is not None:
            on_retry(exc, state.attempt_number)
        log.info("retrying after %.2fs (attempt %d): %s", delay, state.attempt_number, exc)
        return delay

    retrying = retry(
        retry=retry_if_exception(lambda e: isinstance(e, HubError) and e.retryable),
        stop=stop_after_attempt(pol.attempts) | stop_after_delay(pol.total_timeout),
        wait=_wait,
        sleep=sleep,
        reraise=True,
    )
    return retrying(func)()


def new_session(user_agent: str = "erp-sales-hub/0.1") -> requests.Session:
    """One pooled session per task or thread; no urllib3 retries (the policy above owns them)."""
    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=16, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = user_agent
    return session
