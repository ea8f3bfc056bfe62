"""CRM sync under faults: 20% of calls failing, and the sync process killed mid-run.

N is a parameter (300 here, seconds to run); ``bench/crm_sync.py`` runs the big numbers.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bench.crm_sync import party, seed_erp
from connectors.http import RetryPolicy
from hub.bootstrap import Hub
from hub.flows.crm_sync import crm_push, crm_sync, make_crm
from hub.ledger import Ledger
from hub.ratebudget import LedgerRateBudget
from hub.settings import connection_json
from sandbox.crm import SandboxCrm
from schemas.errors import TransientError

pytestmark = pytest.mark.integration

N = int(os.environ.get("HUB_TEST_CRM_PARTIES", "300"))
ROOT = Path(__file__).resolve().parents[2]
# patient enough that 20% faults practically never exhaust a call (0.2^8), fast waits; the
# whole call may take long on a busy machine (an injected slow answer costs a read timeout)
PATIENT = RetryPolicy(attempts=8, base_delay=0.01, max_delay=0.05, max_retry_after=0.05,
                      total_timeout=300)  # fmt: skip
# read timeout and injected slow answer: far apart, and both well above what a loaded
# machine adds to an ordinary answer, so every timeout is an injected fault
TIMEOUT = (3.05, 15.0)
SLOW = 40.0


def content(crm: SandboxCrm, kind: str, keys: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    """hub_erp_id -> the synced properties; fails on duplicates."""
    out: dict[str, tuple[str, ...]] = {}
    for rec in crm.records(kind):
        props = rec["properties"]
        erp_id = props.get("hub_erp_id")
        assert erp_id not in out, f"two CRM {kind} hold hub_erp_id {erp_id}"
        out[erp_id] = tuple(props.get(k, "") for k in keys)
    return out


COMPANY_KEYS = ("name", "hub_vat", "hub_gln", "address", "zip", "city", "country", "phone")
CONTACT_KEYS = ("firstname", "lastname", "email", "jobtitle")


def expected_companies(n: int) -> dict[str, tuple[str, ...]]:
    out = {}
    for i in range(n):
        p = party(i)
        a = p.addresses[0]
        out[str(i + 21)] = (  # 20 products take ids 1..20 in seed_erp
            p.name, p.vat or "", p.gln or "", a.street or "", a.postal_code or "", a.city or "",
            a.country or "", p.contact_mechanisms[0].value,
        )  # fmt: skip
    return out


def test_sync_with_20_percent_faults_ends_with_one_right_company_per_party(
    crm_server_factory: Callable[..., SandboxCrm], tmp_path: Path
) -> None:
    crm = crm_server_factory(fault_rate=0.2, seed=7, slow_seconds=SLOW)
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    ledger.upgrade()
    erp = seed_erp(N)
    snapshot = dict(erp.parties)
    clients = make_crm(crm.url, crm.token, id_property="hub_erp_id",
                           budget=LedgerRateBudget(ledger), policy=PATIENT,
                           timeout=TIMEOUT)  # fmt: skip
    hub = Hub(ledger, erp=erp, crm=clients)

    runs = 0
    while True:  # what Airflow's task retries do; a run rarely exhausts its call retries
        runs += 1
        try:
            crm_sync(hub, page_size=100)
            break
        except TransientError:
            assert runs < 5, "the sync kept failing with 20% faults"

    stats = crm.stats()
    assert sum(stats["faults"].values()) > 10, stats["faults"]  # faults really happened
    assert content(crm, "companies", COMPANY_KEYS) == expected_companies(N)
    contacts = content(crm, "contacts", CONTACT_KEYS)
    assert len(contacts) == N
    # the job title is what the ERP reads back (Tryton, and FakeErp like it, keeps none)
    job = snapshot["21"].contacts[0].job_title or ""
    assert contacts["21:einkauf0@kunde0.example"] == (
        "Anna", "Schulz0", "einkauf0@kunde0.example", job,
    )  # fmt: skip
    links = [a for a in crm.store.all_associations() if a["from"][0] == "contacts"]
    assert len(links) == N
    assert erp.parties == snapshot  # the pull recognised every echo: the ERP is untouched
    assert ledger.dead_letters() == []
    ledger.dispose()


def _child(env: dict[str, str], parties: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "bench.crm_sync", "--child", "--parties", str(parties),
         "--page", "10", "--chunk", "5"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _environment(crm: SandboxCrm, ledger_url: str, home: Path) -> dict[str, str]:
    host, port = crm.url.removeprefix("http://").split(":")
    return {
        **os.environ,
        "HUB_HOME": str(home),
        "HUB_DATABASE_URL": ledger_url,
        "AIRFLOW_CONN_HUB_CRM": connection_json(
            conn_type="http",
            host=host,
            port=int(port),
            password=crm.token,
            extra={"attempts": 8, "timeout": 30},
        ),  # fmt: skip
    }


def _end_state(crm: SandboxCrm) -> dict[str, Any]:
    return {
        "companies": content(crm, "companies", COMPANY_KEYS),
        "contacts": content(crm, "contacts", CONTACT_KEYS),
        "associations": len(crm.store.all_associations()),
        "products": content(crm, "products", ("name", "hub_stock_on_hand")),
    }


def test_a_sync_killed_at_random_points_then_rerun_gives_the_same_end_state(
    crm_server_factory: Callable[..., SandboxCrm], tmp_path: Path
) -> None:
    parties = min(N, 100)
    rng = random.Random()
    crm = crm_server_factory(rate_limit=30, interval_ms=1000)  # slow enough to kill mid-run
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    env = _environment(crm, url, tmp_path / "home")
    kills = []
    pages = parties // 10
    for limit in (pages // 2 - 1, pages // 4):  # the second run has fewer pages left
        proc = _child(env, parties)
        assert proc.stdout is not None
        target = rng.randint(1, limit)
        seen = 0
        for line in proc.stdout:  # each line: one page committed in the ledger
            if "committed" in line:
                seen += 1
                if seen >= target:
                    proc.kill()  # SIGKILL: no cleanup, mid-page
                    break
        proc.wait(timeout=60)
        kills.append((target, proc.returncode))
    assert all(code == -9 for _, code in kills), kills

    final = _child(env, parties)
    out, err = final.communicate(timeout=900)
    assert final.returncode == 0, err[-2000:]
    killed_state = _end_state(crm)

    clean = crm_server_factory()  # the reference: one uninterrupted run, in this process
    ref_ledger = Ledger(f"sqlite:///{tmp_path / 'ref.sqlite'}")
    ref_ledger.upgrade()
    clients = make_crm(clean.url, clean.token, id_property="hub_erp_id")
    crm_push(Hub(ref_ledger, erp=seed_erp(parties, chunk=5), crm=clients),
             page_size=10)  # fmt: skip

    assert killed_state == _end_state(clean)
    assert len(killed_state["companies"]) == parties
    ledger = Ledger(url)
    assert len(ledger.bindings_for("crm", "company")) == parties
    assert ledger.dead_letters() == []
    ledger.dispose()
