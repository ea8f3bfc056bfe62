"""`hub ledger ...`: migrate and inspect the ledger database."""

from __future__ import annotations

import typer

from hub import settings

app = typer.Typer(help="The ledger database (SQLite by default, PostgreSQL via HUB_DATABASE_URL).")


@app.command()
def upgrade() -> None:
    """Apply every pending migration."""
    from hub.ledger import Ledger

    ledger = Ledger(settings.database_url())
    ledger.upgrade()
    typer.echo(f"ledger at revision {ledger.revision()}")
    ledger.dispose()


@app.command("current")
def current_cmd() -> None:
    """Print the schema revision of the ledger database."""
    from hub.ledger import Ledger
    from hub.ledger.migrate import head

    ledger = Ledger(settings.database_url())
    typer.echo(f"{ledger.revision() or '(empty)'} (code head {head()})")
    ledger.dispose()
