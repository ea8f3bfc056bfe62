"""Partners onboard without reading code, and one broken profile stops only its partner
(issue 12): profiles validated one by one and re-read when changed, the broken one filed as
a dead letter and shown by `hub status`; `hub partners list|check|sample`."""

from __future__ import annotations

import json
import shutil
from datetime import datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from connectors.erp.fake import FakeErp
from hub.bootstrap import Hub
from hub.cli import app
from hub.config import load_partners
from hub.flows.edi_inbound import edi_orders_inbound
from hub.ops.status import collect
from hub.partner_health import FLOW, sync_letters
from hub.partner_tools import check_erp, check_profile, sample_orders, validate_sample
from hub.settings import PROJECT_ROOT
from sandbox.partner import drop
from schemas.model import Party
from tests.fixtures.ids import SUED

SHIPPED = PROJECT_ROOT / "config" / "partners"
BROKEN = "id: broken\nname: Broken\nunb: {partner_id: '4300000000015', our_id: '4006389999993'}\n"


@pytest.fixture
def config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A config dir with the shipped profiles and one broken profile beside them."""
    folder = tmp_path / "config" / "partners"
    shutil.copytree(SHIPPED, folder)
    (folder / "broken.yaml").write_text(BROKEN + "messages: [{type: ORDERS, release: 96A}]\n")
    monkeypatch.setenv("HUB_CONFIG_DIR", str(folder.parent))
    return folder


def test_a_broken_profile_is_skipped_reported_and_filed(
    config_dir: Path, hub: Hub, erp: FakeErp
) -> None:
    partners = load_partners(config_dir)
    assert set(partners) == {"kaufhaus-nord", "markt-sued"}
    [(path, error)] = partners.invalid.items()
    assert path.endswith("broken.yaml") and "unb: Value error, partner_id" in error
    # the others keep running: kaufhaus-nord's order becomes a sale
    wired = Hub(hub.ledger, erp=erp, home=hub.home, partners=partners)
    data = sample_orders(partners["kaufhaus-nord"], erp, now=datetime(2026, 12, 1, 8, 0))
    drop(wired.mailbox(partners["kaufhaus-nord"]).inbox, "sample.edi", data)  # type: ignore[attr-defined]
    assert edi_orders_inbound(wired)["orders_created"] == 1
    status = collect(wired)
    assert not status["healthy"]
    assert status["partner_profiles"]["invalid"] == [{"file": path, "error": error}]
    assert any(
        "invalid partner profile skipped" in p and "broken.yaml" in p for p in status["problems"]
    )
    # a dead letter a person sees; closed by itself once the file is fixed
    assert sync_letters(wired.ledger, partners)["filed"] == [path]
    sync_letters(wired.ledger, partners)  # every run: still one open letter
    [letter] = wired.ledger.dead_letters(state="open", flow=FLOW)
    assert letter.partner == "broken" and "fix the file" in letter.reason
    Path(path).unlink()
    assert sync_letters(wired.ledger, load_partners(config_dir))["resolved"] == [path]
    assert wired.ledger.dead_letters(state="open", flow=FLOW) == []


def test_sample_orders_validate_for_the_partner(erp: FakeErp) -> None:
    partners = load_partners(SHIPPED)
    erp.create_parties([Party(name="Markt Sued AG", gln=SUED, code="CUST-002")])
    for partner in ("kaufhaus-nord", "markt-sued"):
        data = sample_orders(partners[partner], erp, orders=2, now=datetime(2026, 12, 1, 8, 0))
        result = validate_sample(data, partners[partner], erp)
        assert result.verdict == "accepted", result.to_dict()
        assert result.message_count == 2
    other = validate_sample(data, partners["kaufhaus-nord"], erp)  # markt-sued's file
    assert other.verdict != "accepted"


def test_check_names_what_the_erp_lacks(erp: FakeErp) -> None:
    partners = load_partners(SHIPPED)
    nord = check_erp(partners["kaufhaus-nord"], erp)
    assert all(f.ok for f in nord), nord
    sued = check_erp(partners["markt-sued"], erp)  # the fake ERP has no Markt Sued
    [missing] = [f for f in sued if not f.ok]
    assert "no ERP party has GLN 4300000000021" in missing.detail
    empty = check_erp(partners["kaufhaus-nord"], FakeErp())
    assert any("no ERP product has a GTIN" in f.detail for f in empty if not f.ok)


def test_check_profile_names_file_and_field(config_dir: Path) -> None:
    profile, finding = check_profile("broken", config_dir)
    assert profile is None and not finding.ok
    assert "broken.yaml" in finding.detail and "partner_id" in finding.detail
    _, unknown = check_profile("nobody", config_dir)
    assert "no profile for 'nobody'" in unknown.detail and "kaufhaus-nord" in unknown.detail


def test_partners_cli_list_and_check(config_dir: Path, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.setenv("HUB_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HUB_DATABASE_URL", f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    runner = CliRunner()
    listed = runner.invoke(app, ["partners", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    rows = {r["id"]: r for r in json.loads(listed.stdout)}
    assert rows["kaufhaus-nord"]["valid"] and not rows["broken"]["valid"]
    assert "partner_id" in rows["broken"]["error"]
    human = runner.invoke(app, ["partners", "list"])
    assert "INVALID" in human.stdout and "kaufhaus-nord" in human.stdout
    bad = runner.invoke(app, ["partners", "check", "broken", "--json"])
    assert bad.exit_code == 1 and not json.loads(bad.stdout)["ok"]
    good = runner.invoke(app, ["partners", "check", "kaufhaus-nord", "--no-erp", "--json"])
    report = json.loads(good.stdout)
    assert good.exit_code == 0 and report["ok"], report
    assert [c["check"] for c in report["checks"]] == ["profile", "channel"]


def test_the_ops_plugin_sees_a_changed_profile_without_a_restart(
    config_dir: Path, hub: Hub, erp: FakeErp
) -> None:
    import os

    from hub.airflow_plugin import _HubHolder, status_of

    built: list[Hub] = []

    def factory() -> Hub:
        built.append(Hub(hub.ledger, erp=erp, home=hub.home, partners=load_partners(config_dir)))
        return built[-1]

    holder = _HubHolder(factory)
    first = status_of(holder.get())
    assert [i["file"] for i in first["partner_profiles"]["invalid"]] == [
        str(config_dir / "broken.yaml")
    ]
    assert holder.get() is built[0]  # nothing changed: the same hub
    fixed = config_dir / "broken.yaml"
    fixed.write_text((SHIPPED / "markt-sued.yaml").read_text().replace("markt-sued", "broken")
                     .replace("4300000000021", "4300000000038"))  # fmt: skip
    os.utime(fixed, ns=(fixed.stat().st_atime_ns, fixed.stat().st_mtime_ns + 1_000_000))
    again = status_of(holder.get())
    assert len(built) == 2 and again["partner_profiles"]["invalid"] == []
    assert "broken" in again["partner_profiles"]["valid"]
