"""Every `hub ...` command of README's Operations section, through the CLI, on real servers.

The commands build their hub from the environment: HUB_HOME and HUB_DATABASE_URL for the
ledger and mailboxes, AIRFLOW_CONN_HUB_ERP for the session's sandbox Tryton and
AIRFLOW_CONN_HUB_CRM for a contract-checked sandbox CRM.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from hub.cli import app
from hub.settings import PROJECT_ROOT
from sandbox.crm import SandboxCrm
from sandbox.partner import drop, make_orders, orders_interchange
from tests.fixtures.ids import NORD, US

pytestmark = pytest.mark.integration

README = PROJECT_ROOT / "README.md"


def conn_json(**fields: Any) -> str:
    return json.dumps(fields)


@pytest.fixture
def env(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    erp_server: Any,
    crm_server: SandboxCrm,
) -> Iterator[Path]:
    home = tmp_path / "hub"
    monkeypatch.setenv("HUB_HOME", str(home))
    monkeypatch.setenv("HUB_DATABASE_URL", f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    monkeypatch.setenv("USER", "operator1")
    monkeypatch.setenv("AIRFLOW_CONN_HUB_ERP", conn_json(**erp_server.hub_connection()))
    host, port = re.match(r"https?://([^:/]+):(\d+)", crm_server.url).groups()  # type: ignore[union-attr]
    monkeypatch.setenv("AIRFLOW_CONN_HUB_CRM", conn_json(
        conn_type="http", host=host, port=int(port), password=crm_server.token,
        extra={"attempts": 3, "timeout": 10},
    ))  # fmt: skip
    yield home


def readme_commands() -> set[str]:
    """The sub-commands the Operations section shows (`hub <name> ...`)."""
    text = README.read_text(encoding="utf-8")
    ops = text.split("## Operations", 1)[1].split("### Production stack", 1)[0]
    return {m.group(1) for m in re.finditer(r"`hub ([a-z-]+)", ops)}


def test_the_operations_section_names_these_commands() -> None:
    # `hub demo --keep` (the trace example's setup) has its own end-to-end test
    assert readme_commands() == {
        "status",
        "dead-letters",
        "trace",
        "reconcile",
        "run",
        "backfill",
        "metrics",
        "demo",
        "flows",
        "partners",
    }


def test_every_operations_command_runs(env: Path, unique: str) -> None:
    from connectors.erp.tryton import TrytonErp
    from hub import settings

    runner = CliRunner()

    def hub(*args: str, code: int = 0) -> str:
        result = runner.invoke(app, list(args))
        assert result.exit_code == code, (args, result.output, result.exception)
        return result.stdout

    products = TrytonErp.from_connection(settings.connection("hub_erp")).list_products()
    orders = make_orders(NORD, US, products[:3], count=2, lines=1, seed=7, prefix=f"R{unique}-")
    data = orders_interchange(orders, sender=NORD, recipient=US, control_ref=unique[:6])
    inbox = env / "partners" / "kaufhaus-nord" / "in"
    drop(inbox, "orders.edi", data)
    drop(inbox, "junk.txt", b"not an interchange")
    order = orders[0].order_number

    # hub flows [--json]: what is registered, with its dry-run support
    flows = {f["flow"]: f for f in json.loads(hub("flows", "--json"))}
    assert flows["edi_orders_inbound"]["dry_run"] and flows["crm_push"]["dry_run"]
    hub("flows")  # the table (names wrap on a narrow terminal)

    # hub partners list|check ID|sample ID: the shipped profiles, against the session's ERP
    assert {p["id"] for p in json.loads(hub("partners", "list", "--json"))} >= {"kaufhaus-nord"}
    checked = json.loads(hub("partners", "check", "kaufhaus-nord", "--json"))
    assert checked["ok"] and {c["check"] for c in checked["checks"]} >= {"erp party", "channel"}
    sample = json.loads(hub("partners", "sample", "kaufhaus-nord", "-o", str(env / "s.edi"),
                            "--json"))  # fmt: skip
    assert sample["verdict"] == "accepted" and (env / "s.edi").stat().st_size == sample["bytes"]

    # hub run FLOW --dry-run: what a run would write, nothing written
    dry = json.loads(hub("run", "edi_orders_inbound", "--dry-run", "--json"))
    assert dry["status"] == "dry_run" and len(dry["would"]["erp"]["create_sale"]) == 2
    assert "edi_orders_inbound: dry_run" in hub("run", "edi_orders_inbound", "--dry-run")
    assert sorted(p.name for p in inbox.iterdir()) == ["junk.txt", "orders.edi"]

    assert json.loads(hub("run", "edi_orders_inbound", "--json"))["status"] == "partial"
    assert json.loads(hub("run", "crm_push", "--json"))["status"] == "ok"
    push = json.loads(hub("run", "crm_push", "--dry-run", "--json"))
    assert push["status"] == "dry_run" and "upsert companies" not in push["would"].get("crm", {})

    # hub status [--json]: the open dead letter (the junk file) is young, so healthy
    status = json.loads(hub("status", "--json"))
    assert status["healthy"] is True
    assert any(e["flow"] == "edi_orders_inbound" for e in status["flows"])
    assert "hub status: healthy" in hub("status")

    # hub dead-letters list|show|replay|discard
    [letter] = json.loads(hub("dead-letters", "list", "--json", "--flow", "edi_orders_inbound"))
    assert letter["error_class"] == "QuarantinedFile"
    assert "dead letters (open): 1" in hub("dead-letters", "list", "--partner", "kaufhaus-nord")
    assert "junk.txt" in hub("dead-letters", "show", str(letter["id"]))
    replayed = json.loads(hub("dead-letters", "replay", str(letter["id"]), "--json", code=1))
    assert replayed[0]["outcome"] == "failed"  # still not an interchange: stays open
    hub("dead-letters", "discard", str(letter["id"]), code=2)  # --reason is required
    gone = json.loads(
        hub("dead-letters", "discard", str(letter["id"]), "--reason", "test upload", "--json")
    )
    assert gone[0]["outcome"] == "discarded" and gone[0]["by"] == "operator1"
    assert json.loads(hub("dead-letters", "list", "--json")) == []

    # hub trace REF
    traced = json.loads(hub("trace", order, "--json"))
    assert traced["orders"] == [order] and len(traced["sales"]) == 1
    kinds = {i["kind"] for i in traced["timeline"]}
    assert {"interchange.received", "sale.created", "contrl.sent", "ordrsp.sent"} <= kinds
    assert f"trace {order}: orders {order}" in hub("trace", order)
    hub("trace", "NO-SUCH-ORDER", code=1)

    # hub reconcile [--json]: ERP sales, CRM companies/contacts in step
    rec = json.loads(hub("reconcile", "--json"))
    assert rec["clean"] is True, [s["differences"] for s in rec["sections"]]
    sections = {s["section"]: s for s in rec["sections"]}
    assert sections["erp.sales"]["counts"] == {"hub": 2, "erp": 2}
    assert sections["crm.companies"]["active"] and sections["crm.companies"]["counts"]["crm"] > 0
    assert "reconcile: 0 difference(s)" in hub("reconcile")

    # hub backfill FLOW --since T [--until T]: nothing in sync is written again
    backfill = json.loads(hub("backfill", "crm_push", "--since", "2000-01-01", "--json"))
    assert backfill["status"] == "ok" and "companies_sent" not in backfill
    assert backfill["window"]["cursor_stream"].startswith("backfill:crm_push:")
    assert "backfill crm_push: ok" in hub(
        "backfill", "crm_push", "--since", "2000-01-01", "--until", "2100-01-01"
    )

    # hub metrics
    metrics = hub("metrics")
    assert "hub_up 1.0" in metrics.splitlines()
    assert 'hub_records_synced_total{flow="edi_orders_inbound"}' in metrics
