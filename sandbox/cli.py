"""`hub sandbox ...` and `hub demo`: the sandbox's own commands, added to the hub CLI through
the ``hub.cli`` entry points in pyproject.toml (a production install without the sandbox has
neither)."""

from __future__ import annotations

import typer

app = typer.Typer(help="Sandbox systems for the demo and tests, on 127.0.0.1.")


@app.command()
def erp(
    port: int = typer.Option(8000, help="port to listen on"),
    db: str = typer.Option(None, help="SQLite file path or postgresql:// URL of the database"),
    host: str = typer.Option("127.0.0.1", help="address to listen on (0.0.0.0 in a container)"),
) -> None:
    """A Tryton server with a company, catalogue, stock and customers."""
    from sandbox.erp import serve

    serve(port=port, db=db, host=host)


@app.command()
def crm(
    port: int = typer.Option(8010, help="port to listen on"),
    rate_limit: int = typer.Option(100, help="requests per 10 seconds, as HubSpot counts them"),
    fault_rate: float = typer.Option(0.0, help="share of calls that fail (0..1)"),
    seed: int = typer.Option(0, help="seed of the fault injection"),
) -> None:
    """A HubSpot CRM v3 look-alike (objects v3, associations v4)."""
    from sandbox.crm import serve

    serve(port=port, rate_limit=rate_limit, fault_rate=fault_rate, seed=seed)


@app.command()
def carrier(
    port: int = typer.Option(8020, help="port to listen on"),
    fault_rate: float = typer.Option(0.0, help="share of calls that fail (0..1)"),
    seed: int = typer.Option(0, help="seed of the fault injection"),
) -> None:
    """DHL Parcel DE BCS 3.3.2 and MyDHL Express SOAP services."""
    from sandbox.carrier import serve

    serve(port=port, fault_rate=fault_rate, seed=seed)
