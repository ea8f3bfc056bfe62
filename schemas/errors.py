"""The hub's error vocabulary: every failure says whether retrying can help."""

from __future__ import annotations


class HubError(Exception):
    """Base of every error the hub raises on purpose.

    ``system`` names the external system or component (``erp``, ``crm``, ``edi``...),
    ``retryable`` tells the caller (tenacity, Airflow, the ledger) whether to try again.
    """

    retryable: bool = False

    def __init__(self, message: str, *, system: str | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.system = system
        self.code = code

    def __str__(self) -> str:
        prefix = f"[{self.system}] " if self.system else ""
        return f"{prefix}{self.message}"


class TransientError(HubError):
    """Retry: connection refused/reset, timeouts, 429, 502/503/504, lock timeouts."""

    retryable = True

    def __init__(
        self,
        message: str,
        *,
        system: str | None = None,
        code: str | None = None,
        retry_after: float | None = None,
    ):
        super().__init__(message, system=system, code=code)
        self.retry_after = retry_after


class PermanentError(HubError):
    """Do not retry: dead-letter with a reason one can act on (validation, 4xx, unknown id)."""


class ConflictError(PermanentError):
    """Same idempotency key, different content: never a silent overwrite."""


class OutcomeUnknownError(PermanentError):
    """A non-idempotent call was sent but its answer was lost: reconcile, never repeat blindly."""
