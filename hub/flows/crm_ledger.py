"""Bulk CRM bindings now live in the ledger (``hub.ledger.bindings``); kept for old imports."""

from hub.ledger.bindings import BindRow, as_binding, bind_rows

bind_many = bind_rows

__all__ = ["BindRow", "as_binding", "bind_many"]
