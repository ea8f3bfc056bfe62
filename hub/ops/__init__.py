"""Operations: status, dead-letter repair, trace, reconcile, dry runs, backfills and metrics."""
