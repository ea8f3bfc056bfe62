"""Wiring in one place: build the ledger and connectors from settings, connect to nothing early."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any

from hub import settings
from hub.ledger import Ledger

if TYPE_CHECKING:
    from connectors.erp.port import ErpPort


class Hub:
    """The engine's context for one flow run: ledger plus lazily built connectors."""

    def __init__(
        self,
        ledger: Ledger,
        *,
        erp: ErpPort | None = None,
        overrides: dict[str, Any] | None = None,
    ):
        self.ledger = ledger
        self._erp = erp
        self.overrides = overrides or {}

    @classmethod
    def from_env(cls, *, migrate: bool = True) -> Hub:
        """The hub as configured by the environment (HUB_DATABASE_URL, AIRFLOW_CONN_*)."""
        ledger = Ledger(settings.database_url())
        if migrate:
            ledger.upgrade()
        return cls(ledger)

    @cached_property
    def erp(self) -> ErpPort:
        """The ERP connector named by the ``hub_erp`` connection."""
        if self._erp is not None:
            return self._erp
        from connectors.erp.tryton import TrytonErp

        conn = settings.connection("hub_erp")
        return TrytonErp.from_connection(conn)

    def close(self) -> None:
        """Release connections."""
        self.ledger.dispose()
