"""The shared rate budget: a token bucket per key, shared by every process on one ledger."""

from __future__ import annotations

import time

from sqlalchemy import select, update

from hub.ledger import tables as t
from hub.ledger.engine import LedgerBase, insert_new, translate_db_errors


class RateBucketStore(LedgerBase):
    """Token buckets (the CRM's request budget per account)."""

    # -- shared rate budget -------------------------------------------------------------
    def take_tokens(self, key: str, capacity: float, per_second: float, n: float = 1.0) -> float:
        """Token bucket shared by every process on this ledger: 0.0 if granted, else seconds
        to wait before asking again (nothing is taken then). The clock is read once the row
        is locked and never goes behind the stamp another process wrote while this one
        waited for the lock."""
        with translate_db_errors(), self.engine.begin() as conn:
            query = select(t.rate_buckets).where(t.rate_buckets.c.key == key)
            if conn.dialect.name == "postgresql":
                query = query.with_for_update()
            row = conn.execute(query).first()
            now = time.time()
            if row is None:
                insert_new(conn, t.rate_buckets, key=key, tokens=capacity, stamp=now)
                row = conn.execute(query).one()
            now = max(now, row.stamp)
            tokens = min(capacity, row.tokens + (now - row.stamp) * per_second)
            if tokens >= n:
                conn.execute(
                    update(t.rate_buckets)
                    .where(t.rate_buckets.c.key == key)
                    .values(tokens=tokens - n, stamp=now)
                )
                return 0.0
            return (n - tokens) / per_second if per_second > 0 else 1.0
