"""The ledger: bindings, journal, interchanges, cursors, control numbers and dead letters."""

from hub.ledger.bindings import Binding, BindRow
from hub.ledger.cursors import Cursor
from hub.ledger.dead_letters import DeadLetter
from hub.ledger.engine import utcnow
from hub.ledger.journal import Claim, Effect, OnceItem, OnUnknown, Outcome, Status
from hub.ledger.store import Ledger

__all__ = [
    "BindRow",
    "Binding",
    "Claim",
    "Cursor",
    "DeadLetter",
    "Effect",
    "Ledger",
    "OnUnknown",
    "OnceItem",
    "Outcome",
    "Status",
    "utcnow",
]
