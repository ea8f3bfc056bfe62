"""`hub edi` commands: validate partners' EDIFACT files (syntax, envelope, message rules).

With ``--partner ID`` the files are also checked against the partner's profile and, when
the ``hub_erp`` connection is configured, the ERP's parties and products. Imports beyond
typer happen inside the command, so that `hub edi validate` starts fast.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, cast

import typer

from connectors.edi.charsets import CHARSET_POLICIES, DEFAULT_CHARSET_POLICY
from connectors.edi.strictness import STRICTNESS_LEVELS, WITHOUT_PARTNER
from hub.cli import acks as acks_cli
from hub.cli.edi_report import print_result, validate_files

if TYPE_CHECKING:
    from connectors.edi.charsets import CharsetPolicy
    from connectors.edi.errors import Issue
    from connectors.edi.partner_checks import PartnerChecks
    from connectors.edi.strictness import Strictness
    from connectors.edi.validation import InterchangeCheck, MessageCheck
    from connectors.erp.port import ErpPort

__all__ = ["app", "print_result", "run_validate", "validate_command"]

ERP_CONN_ID = "hub_erp"

app = typer.Typer(help="EDIFACT tools: validate partners' files.", no_args_is_help=True)
app.command("acks")(acks_cli.acks)
app.command("resend")(acks_cli.resend)


def erp_from_settings() -> tuple[ErpPort | None, str | None]:
    """The ERP from the ``hub_erp`` connection, or (None, why not) when it is not configured."""
    from connectors.erp.tryton import TrytonErp  # noqa: PLC0415 - only with --partner
    from hub import settings  # noqa: PLC0415
    from schemas.errors import HubError  # noqa: PLC0415

    try:
        conn = settings.connection(ERP_CONN_ID)
    except HubError as exc:
        return None, (
            f"ERP connection {ERP_CONN_ID!r} is not configured ({exc}): GLNs and GTINs are "
            "not checked against the ERP, only against the partner profile"
        )
    return TrytonErp.from_connection(conn), None


def partner_checks(partner: str, erp: ErpPort | None) -> PartnerChecks:
    """The checks for ``--partner``; raises HubError when the profile cannot be loaded."""
    from connectors.edi.partner_checks import PartnerChecks  # noqa: PLC0415
    from hub.config import load_partners  # noqa: PLC0415
    from schemas.errors import HubError  # noqa: PLC0415

    profiles = load_partners()
    profile = profiles.get(partner)
    if profile is None:
        known = ", ".join(sorted(profiles)) or "none"
        raise HubError(f"unknown partner {partner!r} (profiles: {known})", system="config")
    return PartnerChecks(profile, erp)


@app.command("validate")
def validate_command(
    paths: list[Path] = typer.Argument(..., help="EDIFACT files or folders", exists=True),
    partner: str | None = typer.Option(
        None, "--partner", help="also check against this partner's profile and the ERP"
    ),
    as_json: bool = typer.Option(False, "--json", help="one JSON object per file per line"),
    charset_policy: str | None = typer.Option(
        None,
        "--charset-policy",
        help=f"bytes not matching the UNB character set: {', '.join(CHARSET_POLICIES)} "
        "(default: the partner's policy with --partner, else strict)",
    ),
    strictness: str | None = typer.Option(
        None,
        "--strictness",
        help=f"how strictly to judge: {', '.join(STRICTNESS_LEVELS)} (default: the "
        "partner's setting with --partner, else standard)",
    ),
) -> None:
    """Check files for syntax, envelope and message structure; exit 1 unless all accepted."""
    run_validate(
        paths,
        partner=partner,
        as_json=as_json,
        charset_policy=charset_policy,
        strictness=strictness,
    )


def _erp_note(why: str) -> Issue:
    from rich.console import Console  # noqa: PLC0415
    from rich.markup import escape  # noqa: PLC0415

    from connectors.edi.errors import Issue, SyntaxCode  # noqa: PLC0415

    Console(stderr=True).print(f"[yellow]warning[/yellow]: {escape(why)}")
    return Issue(SyntaxCode.UNSPECIFIED, "file", why, warning=True)


def run_validate(
    paths: Sequence[Path],
    *,
    partner: str | None = None,
    as_json: bool = False,
    charset_policy: str | None = None,
    erp: ErpPort | None = None,
    strictness: str | None = None,
) -> None:
    """The command's body; ``erp`` replaces the ``hub_erp`` connection (tests pass a fake)."""
    if charset_policy is not None and charset_policy not in CHARSET_POLICIES:
        raise typer.BadParameter(
            f"{charset_policy!r}: use one of {', '.join(CHARSET_POLICIES)}",
            param_hint="--charset-policy",
        )
    if strictness is not None and strictness not in STRICTNESS_LEVELS:
        raise typer.BadParameter(
            f"{strictness!r}: use one of {', '.join(STRICTNESS_LEVELS)}",
            param_hint="--strictness",
        )
    checks: Sequence[MessageCheck] = ()
    interchange_checks: Sequence[InterchangeCheck] = ()
    notes: list[Issue] = []
    policy = cast("CharsetPolicy", charset_policy or DEFAULT_CHARSET_POLICY)  # checked above
    level = cast("Strictness", strictness or WITHOUT_PARTNER)
    if partner is not None:
        from schemas.errors import HubError  # noqa: PLC0415

        try:
            found = partner_checks(partner, None)
        except HubError as exc:
            from rich.console import Console  # noqa: PLC0415
            from rich.markup import escape  # noqa: PLC0415

            Console(stderr=True).print(f"[red]error[/red]: {escape(str(exc))}")
            raise typer.Exit(2) from exc
        if erp is None:
            erp, why = erp_from_settings()
            if why is not None:
                notes.append(_erp_note(why))
        found.erp = erp
        checks, interchange_checks = [found.message], [found.interchange]
        if charset_policy is None:
            policy = found.profile.charset_policy
        if strictness is None:
            level = found.profile.strictness
    ok = validate_files(paths, as_json, policy, level, checks, interchange_checks, notes)
    raise typer.Exit(0 if ok else 1)
