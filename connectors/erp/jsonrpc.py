"""Tryton JSON-RPC transport: session login, timeouts, retries, errors translated, calls counted.

Tryton answers ``POST /<db>/rpc/`` with HTTP 200 and ``{"error": [...]}`` for application
errors (UserError, ConcurrencyException, server exceptions) and with HTTP statuses for
protocol ones (401 bad credentials or expired session, 403 forbidden method, 429 login rate
limit, 504 transaction timeout). Everything leaves here as a ``HubError`` naming ``erp`` and the
URL, never the password.
"""

from __future__ import annotations

import base64
import itertools
import logging
import threading
import time
from typing import Any

import requests

from connectors.erp.wire import decode, encode
from connectors.http import (
    RetryPolicy,
    classify_status,
    new_session,
    parse_retry_after,
    redact_url,
    translate_transport_error,
    with_retries,
)
from schemas.errors import HubError, PermanentError, TransientError

log = logging.getLogger(__name__)

SYSTEM = "erp"
# server-side messages that mean "someone else holds the row/table: try again"
_LOCK_MARKERS = (
    "database is locked",
    "could not obtain lock",
    "deadlock detected",
    "could not serialize",
    "lock timeout",
    "canceling statement due to lock timeout",
)


class TrytonRpc:
    """One logged-in JSON-RPC client of one Tryton database, safe to call from several
    threads (an HTTP session per thread, one Tryton session for all).

    ``calls`` counts HTTP requests (logins included), the figure the benchmark reports.
    """

    def __init__(
        self,
        base_url: str,
        database: str,
        login: str,
        password: str,
        *,
        timeout: float | tuple[float, float] = (5.0, 120.0),
        policy: RetryPolicy | None = None,
        session: requests.Session | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/") + "/"
        self.database = database
        self.url = f"{self.base_url}{database}/rpc/"
        self.login_name = login
        self._password = password
        self.timeout = timeout
        self.policy = policy or RetryPolicy()
        self._session = session  # one for every thread when given, else one per thread
        self._local = threading.local()
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._auth: str | None = None
        self.context: dict[str, Any] = {}
        self.calls = 0
        self.seconds: dict[str, float] = {}  # wall time per RPC method, for benchmarks

    def __repr__(self) -> str:
        return f"TrytonRpc({self.url!r}, login={self.login_name!r})"

    @property
    def _http(self) -> requests.Session:
        """This thread's HTTP session: one client may run calls from several threads (the
        inbound flow's concurrent ERP batches); the Tryton login session is shared."""
        if self._session is not None:
            return self._session
        http: requests.Session | None = getattr(self._local, "http", None)
        if http is None:
            http = self._local.http = new_session()
        return http

    # -- session ------------------------------------------------------------------------------

    def _login(self) -> None:
        result = self._post_once(
            "common.db.login", [self.login_name, {"password": self._password}], idempotent=True
        )
        user_id, token = result[0], result[1]
        raw = f"{self.login_name}:{user_id}:{token}".encode()
        self._auth = "Session " + base64.b64encode(raw).decode()
        self.context = self._post_once(
            "model.res.user.get_preferences", [True, {}], idempotent=True
        )
        log.info("logged in to %s as %s", redact_url(self.url), self.login_name)

    def ensure_login(self) -> None:
        """Log in now (with retries) unless a session is already open."""
        if self._auth is None:
            with_retries(self._login, self.policy)

    # -- calls --------------------------------------------------------------------------------

    def call(self, method: str, params: list[Any], *, idempotent: bool) -> Any:
        """One RPC with retries of transient errors; re-login once if the session expired."""

        def attempt() -> Any:
            if self._auth is None:
                self._login()
            try:
                return self._post_once(method, params, idempotent=idempotent)
            except _SessionExpired:
                log.info("session on %s expired: logging in again", redact_url(self.url))
                self._auth = None
                self._login()
                try:
                    return self._post_once(method, params, idempotent=idempotent)
                except _SessionExpired as exc:
                    raise PermanentError(
                        f"{redact_url(self.url)} refused a fresh session for {self.login_name!r} "
                        f"on {method}: check that user's access rights",
                        system=SYSTEM,
                        code="401",
                    ) from exc

        return with_retries(attempt, self.policy)

    def model(
        self,
        model: str,
        method: str,
        *args: Any,
        idempotent: bool,
        context: dict[str, Any] | None = None,
    ) -> Any:
        """``model.<model>.<method>(*args, context)`` with the user's context (plus ``context``)."""
        self.ensure_login()  # the user's context (company, language) comes with the session
        ctx = dict(self.context)
        if context:
            ctx.update(context)
        return self.call(f"model.{model}.{method}", [*args, ctx], idempotent=idempotent)

    def _post_once(self, method: str, params: list[Any], *, idempotent: bool) -> Any:
        body = {"id": next(self._ids), "method": method, "params": encode(params)}
        headers = (
            {"Authorization": self._auth} if self._auth and method != "common.db.login" else {}
        )
        with self._lock:
            self.calls += 1
        started = time.perf_counter()
        try:
            response = self._http.post(self.url, json=body, headers=headers, timeout=self.timeout)
        except requests.RequestException as exc:
            raise translate_transport_error(
                exc, system=SYSTEM, url=self.url, idempotent=idempotent
            ) from exc
        with self._lock:
            self.seconds[method] = self.seconds.get(method, 0.0) + time.perf_counter() - started
        if response.status_code == 401:
            if method == "common.db.login":
                raise PermanentError(
                    f"{redact_url(self.url)} rejected login {self.login_name!r}: wrong login or "
                    "password; fix the ERP connection's credentials",
                    system=SYSTEM,
                    code="401",
                )
            raise _SessionExpired(method)
        if response.status_code == 429:
            raise TransientError(
                f"{redact_url(self.url)} rate-limited {method} (429): too many attempts",
                system=SYSTEM,
                code="429",
                retry_after=parse_retry_after(response.headers.get("Retry-After")) or 5.0,
            )
        if response.status_code == 403:
            raise PermanentError(
                f"{redact_url(self.url)} forbids {method} (403): the method is not public or "
                f"user {self.login_name!r} lacks access",
                system=SYSTEM,
                code="403",
            )
        if response.status_code == 404:
            raise PermanentError(
                f"{redact_url(self.url)} answered 404: is {self.database!r} the right database?",
                system=SYSTEM,
                code="404",
            )
        if response.status_code == 504:
            # Tryton aborts and rolls back a transaction that ran past its timeout
            raise TransientError(
                f"{redact_url(self.url)} timed out {method} server-side (504)",
                system=SYSTEM,
                code="504",
            )
        error = classify_status(response, system=SYSTEM, idempotent=idempotent)
        if error is not None:
            raise error
        try:
            data = response.json()
        except ValueError as exc:
            raise PermanentError(
                f"{redact_url(self.url)} answered {method} with non-JSON "
                f"({response.headers.get('Content-Type')}): is this a Tryton server?",
                system=SYSTEM,
            ) from exc
        if data.get("error") is not None:
            raise translate_tryton_error(data["error"], method=method, url=self.url)
        return decode(data.get("result"))


class _SessionExpired(Exception):
    """401 on an authenticated call: the session is gone (timeout, logout, restart)."""


def translate_tryton_error(error: Any, *, method: str, url: str) -> HubError:
    """Map a JSON-RPC ``error`` member to Transient/Permanent with Tryton's own message."""
    where = redact_url(url)
    kind: str = ""
    detail: Any = error
    if isinstance(error, list | tuple) and error:
        kind = str(error[0])
        detail = error[1] if len(error) > 1 else ""
    if kind == "UserError":
        message, description = _message_parts(detail)
        return PermanentError(
            f"Tryton refused {method}: {message}{' - ' + description if description else ''}",
            system=SYSTEM,
            code="UserError",
        )
    if kind == "UserWarning":
        parts = list(detail) if isinstance(detail, list | tuple) else [detail]
        text = " - ".join(str(p) for p in parts[1:] if p) or str(parts[0])
        return PermanentError(
            f"Tryton asks to confirm a warning on {method}: {text}",
            system=SYSTEM,
            code="UserWarning",
        )
    if kind == "ConcurrencyException":
        return TransientError(
            f"Tryton reports a concurrent change on {method}: {detail}",
            system=SYSTEM,
            code="ConcurrencyException",
        )
    if kind == "LoginException":
        return PermanentError(
            f"{where} asks for another login step on {method} ({detail}): the hub only "
            "supports password login",
            system=SYSTEM,
            code="LoginException",
        )
    text = kind or str(detail)
    if any(marker in text.lower() for marker in _LOCK_MARKERS):
        return TransientError(
            f"{where} could not lock for {method}: {text}", system=SYSTEM, code="lock"
        )
    first_line = text.strip().splitlines()[0] if text.strip() else "unknown error"
    return PermanentError(
        f"{where} failed {method}: {first_line[:300]}", system=SYSTEM, code="server"
    )


def _message_parts(detail: Any) -> tuple[str, str]:
    if isinstance(detail, list | tuple):
        message = str(detail[0]) if detail else ""
        description = str(detail[1]) if len(detail) > 1 and detail[1] else ""
        return message, description
    return str(detail), ""
