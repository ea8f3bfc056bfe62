"""The hub's engine: ledger, flows, settings and CLI that join connectors and transforms."""
