"""The sandbox carrier's memory: credentials, shipments, checkpoints and injected faults.

Everything behind one lock; the HTTP side (``sandbox.carrier``) only asks and tells.
"""

from __future__ import annotations

import os
import random
import secrets
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sandbox.carrier_soap import TrackEvent

FAULT_KINDS = (
    "soap_fault",
    "http_500",
    "http_503",
    "slow_before",
    "slow_after",
    "malformed",
    "truncated",
    "bomb",
    "external_entity",
    "reset",
    "html_page",
)
# Faults a carrier throws at random in the reliability runs: failures that either did nothing
# (fault, 503, a hang before the write) or that the client cannot tell apart (a hang after it).
DEFAULT_RANDOM_FAULTS = ("soap_fault", "http_503", "slow_before", "slow_after")
PRE_FAULTS = frozenset({"soap_fault", "http_500", "http_503", "slow_before", "reset", "html_page"})
EVENT_SCRIPT = (
    ("PU", "Shipment picked up", "HAM", "HAMBURG - GERMANY"),
    ("PL", "Processed at HAMBURG - GERMANY", "HAM", "HAMBURG - GERMANY"),
    ("DF", "Departed Facility in HAMBURG - GERMANY", "HAM", "HAMBURG - GERMANY"),
    ("AF", "Arrived at Sort Facility BERLIN - GERMANY", "BER", "BERLIN - GERMANY"),
    ("WC", "With delivery courier", "BER", "BERLIN - GERMANY"),
    ("OK", "Delivered - Signed for by: SANDBOX", "BER", "BERLIN - GERMANY"),
)
EXTRA_EVENTS = {
    "BA": "Bad address",
    "NH": "Not home",
    "OH": "On hold",
    "RT": "Returned to shipper",
    "CA": "Closed on arrival",
}


@dataclass(frozen=True)
class CarrierCredentials:
    """What a client must present: BCS application (HTTP Basic) + user, Express user."""

    bcs_app_id: str
    bcs_app_token: str
    bcs_user: str
    bcs_signature: str
    express_username: str
    express_password: str

    ENV = {
        "bcs_app_id": "SANDBOX_CARRIER_BCS_APP_ID",
        "bcs_app_token": "SANDBOX_CARRIER_BCS_APP_TOKEN",
        "bcs_user": "SANDBOX_CARRIER_BCS_USER",
        "bcs_signature": "SANDBOX_CARRIER_BCS_SIGNATURE",
        "express_username": "SANDBOX_CARRIER_EXPRESS_USERNAME",
        "express_password": "SANDBOX_CARRIER_EXPRESS_PASSWORD",
    }

    @classmethod
    def generate(cls) -> CarrierCredentials:
        """Fresh random credentials (user names readable, secrets random)."""
        return cls(
            bcs_app_id="sandbox-app",
            bcs_app_token=secrets.token_urlsafe(16),
            bcs_user="sandbox-user",
            bcs_signature=secrets.token_urlsafe(16),
            express_username="sandbox-express",
            express_password=secrets.token_urlsafe(16),
        )

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> tuple[CarrierCredentials, bool]:
        """(credentials from SANDBOX_CARRIER_* variables, generated where unset; any generated?)."""
        env = os.environ if environ is None else environ
        generated = cls.generate()
        values = {}
        any_generated = False
        for attr, var in cls.ENV.items():
            if env.get(var):
                values[attr] = env[var]
            else:
                values[attr] = getattr(generated, attr)
                any_generated = True
        return cls(**values), any_generated


@dataclass
class SandboxShipment:
    """A shipment the sandbox carrier created."""

    number: str
    awb: str
    api: str
    reference: str | None
    postcode: str | None
    created_at: datetime
    events: list[TrackEvent] = field(default_factory=list)
    deleted: bool = False

    def as_json(self) -> dict[str, Any]:
        data = {name: getattr(self, name) for name in ("number", "awb", "api", "reference")}
        data |= {"postcode": self.postcode, "created_at": self.created_at.isoformat()}
        return data | {"deleted": self.deleted, "events": [e.code for e in self.events]}


@dataclass
class _ForcedFault:
    kind: str
    operation: str | None
    remaining: int


class CarrierState:
    """Everything the sandbox remembers, behind one lock."""

    def __init__(self, fault_rate: float, seed: int, fault_kinds: Sequence[str]) -> None:
        unknown = set(fault_kinds) - set(FAULT_KINDS)
        if unknown:
            raise ValueError(f"carrier sandbox: unknown fault kinds {sorted(unknown)}")
        if not 0.0 <= fault_rate <= 1.0:
            raise ValueError(f"carrier sandbox: fault_rate {fault_rate} must be within [0, 1]")
        self.lock = threading.Lock()
        self.fault_rate = fault_rate
        self.fault_kinds = tuple(fault_kinds)
        self.rng = random.Random(seed)
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.shipments: dict[str, SandboxShipment] = {}
            self.by_awb: dict[str, SandboxShipment] = {}
            self.counter = 0
            self.requests: Counter[str] = Counter()
            self.faults: Counter[str] = Counter()
            self.rejected = 0
            self.forced: list[_ForcedFault] = []
            self.reject_postcodes: set[str] = set()
            self.password_expired = False

    def force(self, kind: str, operation: str | None = None, count: int = 1) -> None:
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; one of {', '.join(FAULT_KINDS)}")
        with self.lock:
            self.forced.append(_ForcedFault(kind, operation, count))

    def pick_fault(self, operation: str) -> str | None:
        """The fault to inject into this request, if any (forced ones first, then random)."""
        with self.lock:
            self.requests[operation] += 1
            for forced in self.forced:
                if forced.operation in (None, operation) and forced.remaining > 0:
                    forced.remaining -= 1
                    self.forced = [f for f in self.forced if f.remaining > 0]
                    self.faults[forced.kind] += 1
                    return forced.kind
            if self.fault_rate and self.fault_kinds and self.rng.random() < self.fault_rate:
                kind = self.rng.choice(self.fault_kinds)
                self.faults[kind] += 1
                return kind
        return None

    def create(self, api: str, reference: str | None, postcode: str | None) -> SandboxShipment:
        with self.lock:
            self.counter += 1
            number = f"2222{self.counter:014d}" if api == "bcs" else f"{1234500000 + self.counter}"
            awb = f"{1234500000 + self.counter}"
            shipment = SandboxShipment(
                number, awb, api, reference, postcode, datetime.now(UTC).replace(microsecond=0)
            )
            self.shipments[number] = shipment
            self.by_awb[awb] = shipment
            return shipment

    def delete(self, number: str) -> bool:
        with self.lock:
            shipment = self.shipments.get(number)
            if shipment is None or shipment.deleted:
                return False
            shipment.deleted = True
            return True

    def find(self, number: str) -> SandboxShipment | None:
        with self.lock:
            return self.shipments.get(number) or self.by_awb.get(number)

    def advance(self, number: str, event: str | None = None, steps: int = 1) -> list[str]:
        """Append ``steps`` checkpoints (the next scripted ones, or ``event``); the codes now."""
        shipment = self.find(number)
        if shipment is None:
            raise KeyError(f"no sandbox shipment {number!r}")
        with self.lock:
            for _ in range(steps):
                now = datetime.now(UTC)
                if event is not None:
                    if event not in EXTRA_EVENTS and event not in {e[0] for e in EVENT_SCRIPT}:
                        raise ValueError(f"unknown event code {event!r}")
                    script = {e[0]: e for e in EVENT_SCRIPT}
                    code, text, area_code, area = script.get(
                        event, (event, EXTRA_EVENTS.get(event, event), "BER", "BERLIN - GERMANY")
                    )
                else:
                    done = sum(1 for e in shipment.events if e.code in {s[0] for s in EVENT_SCRIPT})
                    if done >= len(EVENT_SCRIPT):
                        break
                    code, text, area_code, area = EVENT_SCRIPT[done]
                shipment.events.append(
                    TrackEvent(
                        now.date().isoformat(),
                        now.time().replace(microsecond=0).isoformat(),
                        code,
                        text,
                        area_code,
                        area,
                    )
                )
            return [e.code for e in shipment.events]

    def advance_all(self, steps: int = 1) -> int:
        with self.lock:
            numbers = [s.number for s in self.shipments.values() if not s.deleted]
        for number in numbers:
            self.advance(number, steps=steps)
        return len(numbers)

    def stats(self) -> dict[str, Any]:
        with self.lock:
            created = Counter(s.reference for s in self.shipments.values())
            active = Counter(s.reference for s in self.shipments.values() if not s.deleted)
            return {
                "shipments": len(self.shipments),
                "deleted": sum(1 for s in self.shipments.values() if s.deleted),
                "created_by_reference": {str(k): v for k, v in created.items()},
                "active_by_reference": {str(k): v for k, v in active.items()},
                "requests": dict(self.requests),
                "faults": dict(self.faults),
                "rejected": self.rejected,
            }

    def shipments_json(
        self, reference: str | None = None, api: str | None = None
    ) -> list[dict[str, Any]]:
        """Shipments (all, or under our ``reference``, of one ``api``) as JSON rows."""
        with self.lock:
            return [
                s.as_json()
                for s in self.shipments.values()
                if (reference is None or s.reference == reference) and api in (None, s.api)
            ]
