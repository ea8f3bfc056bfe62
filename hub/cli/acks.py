"""`hub edi acks` and `hub edi resend`: outbound documents' acknowledgement state, and re-sends.

Imports only typer at module level (``hub edi validate`` loads this module too).
"""

from __future__ import annotations

import json
import sys

import typer


def acks(
    partner: str | None = typer.Option(None, "--partner", help="only this partner's documents"),
    state: str | None = typer.Option(
        None,
        "--state",
        help="only documents in this state: sent, accepted, rejected, overdue, resent",
    ),
    as_json: bool = typer.Option(False, "--json", help="print the documents as JSON"),
) -> None:
    """Every document sent to partners with its acknowledgement state (CONTRL/APERAK)."""
    from hub.cli.ops import _hub
    from hub.ops.acks import listing
    from transforms.edifact_acks_in import STATES

    if state is not None and state not in STATES:
        raise typer.BadParameter(f"{state!r}: use one of {', '.join(STATES)}", param_hint="--state")
    with _hub(read_only=True) as hub:
        rows = listing(hub.ledger, partner=partner, state=state)
    if as_json:
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return
    from rich.markup import escape

    from hub.cli.render import show, table

    out = table(
        "partner", "type", "state", "number", "interchange", "sent (UTC)", "why",
        title=f"{len(rows)} outbound document(s)",
    )  # fmt: skip
    for r in rows:
        why = "; ".join(
            f"{e.get('source', '')} {e['code']} {e.get('position') or ''} {e.get('text') or ''}"
            for e in r["errors"][:2]
        )
        if r["resent_as"]:
            why = f"re-sent as {r['resent_as']}"
        elif r["state"] in ("sent", "overdue") and r["expects"]:
            why = "awaits " + ", ".join(r["expects"])
        elif r.get("answers"):
            why = f"our answer to interchange {r['answers']}"
        elif not r["expects"] and not why:
            why = "no acknowledgement agreed (expect_acks)"
        out.add_row(
            r["partner"], r["doc_type"], r["state"], r["document_number"],
            r["control_ref"], (r["sent_at"] or "")[:16],
            escape(" ".join(why.split())),
        )  # fmt: skip
    show(out)


def resend(
    partner: str = typer.Argument(..., help="the partner id (config/partners)"),
    control_ref: str = typer.Argument(..., help="our interchange reference of the document"),
    reason: str = typer.Option(..., "--reason", help="what was corrected (kept for audit)"),
    by: str | None = typer.Option(None, "--by", help="who re-sends (default $USER)"),
    force: bool = typer.Option(False, "--force", help="re-send even if not rejected/overdue"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Send a corrected copy of a rejected document under a new control number (audited)."""
    from hub.cli.ops import _hub
    from hub.flows.edi_outbound_resend import resend as run_resend

    with _hub() as hub:
        done = run_resend(hub, partner, control_ref, by=by, reason=reason, force=force)
    if as_json:
        sys.stdout.write(json.dumps(done, indent=2) + "\n")
        return
    typer.echo(
        f"{done['doc_type']} {done['document_number']} re-sent to {partner} as interchange "
        f"{done['control_ref']} ({done['file']}), was {done['was']}; dead letters closed: "
        f"{', '.join(map(str, done['dead_letters_closed'])) or 'none'}"
    )
