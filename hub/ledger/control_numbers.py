"""Control numbers: outbound UNB/UNH/document numbers, allocated once per document per scope."""

from __future__ import annotations

from sqlalchemy import select, update

from hub.ledger import tables as t
from hub.ledger.engine import LedgerBase, insert_new, translate_db_errors, utcnow
from schemas.errors import TransientError
from transforms.keys import ControlNumberKey


class ControlNumberStore(LedgerBase):
    """Gap-tolerant counters per scope; the same document always gets the same number."""

    # -- control numbers ----------------------------------------------------------------
    def control_number(self, scope: str | ControlNumberKey, document_key: str = "") -> int:
        """The control number of a document in a scope: allocated once, the same on retry."""
        if isinstance(scope, ControlNumberKey):
            return self._number(scope.scope, scope.document)
        return self._number(scope, document_key)

    def _number(self, scope: str, document_key: str) -> int:
        for _ in range(20):
            with translate_db_errors(), self.engine.begin() as conn:
                row = conn.execute(
                    select(t.control_numbers.c.number).where(
                        t.control_numbers.c.scope == scope,
                        t.control_numbers.c.document_key == document_key,
                    )
                ).first()
                if row is not None:
                    return int(row.number)
                insert_new(conn, t.control_counters, scope=scope, last=0)
                conn.execute(
                    update(t.control_counters)
                    .where(t.control_counters.c.scope == scope)
                    .values(last=t.control_counters.c.last + 1)
                )
                number = conn.execute(
                    select(t.control_counters.c.last).where(t.control_counters.c.scope == scope)
                ).scalar_one()
                if insert_new(
                    conn, t.control_numbers, scope=scope, document_key=document_key,
                    number=number, created_at=utcnow(),
                ):  # fmt: skip
                    return int(number)
                # another writer allocated this document meanwhile: read theirs
        raise TransientError(f"could not allocate a control number in {scope}", system="ledger")
