"""Look a carrier's shipments up by our reference, where the endpoint offers it (JSON over HTTP).

Neither DHL API can list shipments or find one by the shipper's reference (BCS 3.3.2 and the
MyDHL Express WSDLs only search by shipment number), so this is configured per connection
(``extra.lookup_path``) and used only where the endpoint supports it: the sandbox carrier
serves ``GET /shipments?reference=R&api=bcs|express`` behind the same HTTP Basic credentials.
Any answer that is not a clean list means "the carrier cannot tell": OutcomeUnknownError,
so a booking whose outcome is unknown is never repeated on a guess. The look-up is a read, so
a transient failure (no answer, 429, 5xx) is retried within the call first: a 30% fault rate
must not leave a booking waiting for the next run.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import requests

from connectors.http import RetryPolicy, new_session, redact_url, with_retries
from schemas.errors import OutcomeUnknownError, PermanentError, TransientError
from transforms.dhl_results import Carrier, CarrierLabel, CarrierShipment


@dataclass(frozen=True)
class LookupSettings:
    """Where the look-up endpoint is and who we are there (secrets never in repr)."""

    url: str
    username: str
    password: str = field(repr=False)
    timeout: float = 10.0
    retry: RetryPolicy = RetryPolicy(attempts=4, total_timeout=60.0)


class ReferenceLookup:
    """GET the carrier's shipments (all, or those under one reference) for one API."""

    def __init__(
        self,
        settings: LookupSettings,
        *,
        carrier: Carrier,
        session_factory: Callable[[], requests.Session] = new_session,
    ) -> None:
        self.settings = settings
        self.carrier: Carrier = carrier
        self._session_factory = session_factory
        self._local = threading.local()

    @property
    def _api(self) -> str:
        return "bcs" if self.carrier == "dhl_bcs" else "express"

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._session_factory()
            session.auth = (self.settings.username, self.settings.password)
            self._local.session = session
        return session

    def _get(self, params: dict[str, str], what: str) -> list[dict[str, Any]]:
        """The shipment list, transient failures retried; still none: the carrier cannot tell."""
        try:
            return with_retries(lambda: self._get_once(params, what), self.settings.retry)
        except TransientError as exc:
            raise OutcomeUnknownError(exc.message, system=exc.system, code="lookup") from exc

    def _get_once(self, params: dict[str, str], what: str) -> list[dict[str, Any]]:
        where = redact_url(self.settings.url)
        system = f"carrier.{self.carrier}"
        try:
            response = self._session().get(
                self.settings.url, params=params, timeout=self.settings.timeout
            )
        except requests.RequestException as exc:
            raise TransientError(
                f"{what}: the look-up at {where} did not answer ({type(exc).__name__})",
                system=system,
                code="lookup",
            ) from exc
        if response.status_code in (401, 403):
            raise PermanentError(
                f"ALERT: {what}: the look-up at {where} refused our credentials "
                f"(HTTP {response.status_code}); fix the carrier connection",
                system=system,
                code="auth",
            )
        try:
            rows = response.json()["shipments"] if response.status_code == 200 else None
        except (ValueError, KeyError, TypeError):
            rows = None
        if not isinstance(rows, list):
            error = (
                TransientError
                if response.status_code in (429, 502, 503, 504)
                else (OutcomeUnknownError)
            )
            raise error(
                f"{what}: the look-up at {where} answered HTTP {response.status_code} without "
                "a shipment list; the carrier cannot tell",
                system=system,
                code="lookup",
            )
        return [row for row in rows if isinstance(row, dict)]

    def _shipment(self, row: dict[str, Any]) -> CarrierShipment:
        number = str(row.get("number") if self._api == "bcs" else row.get("awb"))
        created = row.get("created_at")
        return CarrierShipment(
            carrier=self.carrier,
            reference=row.get("reference"),
            shipment_number=number,
            created_at=datetime.fromisoformat(created) if created else None,
            cancelled=bool(row.get("deleted")),
        )

    def find(self, reference: str) -> CarrierLabel | None:
        """The one live booking under ``reference``; None when there is none."""
        what = f"shipment {reference}"
        rows = self._get({"reference": reference, "api": self._api}, what)
        live = [r for r in rows if not r.get("deleted") and r.get("reference") == reference]
        if not live:
            return None
        if len(live) > 1:
            numbers = ", ".join(self._shipment(r).shipment_number for r in live)
            raise PermanentError(
                f"{what}: the carrier holds {len(live)} bookings under this reference "
                f"({numbers}); cancel the extra ones at the carrier and resolve by hand",
                system=f"carrier.{self.carrier}",
                code="duplicate",
            )
        row = live[0]
        pdf = base64.b64decode(row.get("label_pdf_base64") or "")
        return CarrierLabel(
            carrier=self.carrier,
            reference=reference,
            shipment_number=self._shipment(row).shipment_number,
            label_pdf=pdf,
        )

    def all(self) -> list[CarrierShipment]:
        """Every shipment of this API the endpoint knows (cancelled ones flagged)."""
        return [self._shipment(r) for r in self._get({"api": self._api}, "shipment list")]

    def close(self) -> None:
        """Close this thread's session."""
        session = getattr(self._local, "session", None)
        if session is not None:
            session.close()
            self._local.session = None
