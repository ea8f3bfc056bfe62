"""The hub's operations page: 24 h series from the ledger, SVG charts and the HTML view."""
