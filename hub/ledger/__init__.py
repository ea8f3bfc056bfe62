"""The ledger: bindings, journal, interchanges, cursors, control numbers and dead letters."""

from hub.ledger.store import Binding, Claim, DeadLetter, Ledger, utcnow

__all__ = ["Binding", "Claim", "DeadLetter", "Ledger", "utcnow"]
