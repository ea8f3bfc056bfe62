"""The operations tables now live with the ledger's (``hub.ledger.tables``); old imports."""

from hub.ledger.tables import dead_letter_audit, events, runs

__all__ = ["dead_letter_audit", "events", "runs"]
