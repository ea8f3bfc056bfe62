"""The ops plugin in the real `airflow api-server`: auth, /hub/health == collect(), Chromium."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub import airflow_env
from hub.ledger import Ledger, utcnow

pytestmark = pytest.mark.e2e

# the README's picture; refreshed only on request (HUB_UPDATE_SCREENSHOT=1), so a test run
# leaves the working tree clean
README_SCREENSHOT = airflow_env.PROJECT_ROOT / "docs" / "ops-page.png"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
START_TIMEOUT = 120.0
SCRAPE_TOKEN = "scrape-" + "x" * 24  # the hub_metrics connection's password in this test


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    """Poll ``url`` until it answers 200; fail with the server's log if it dies or times out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"api-server exited {proc.returncode}:\n{log.read_text()[-4000:]}")
        try:
            if httpx.get(url, timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)  # polling interval, not synchronisation
    pytest.fail(f"api-server not ready at {url} after {timeout} s:\n{log.read_text()[-4000:]}")


def seed_ledger(ledger: Ledger) -> dict[str, Any]:
    """Journal entries spread over the last day for two flows, one pending, two dead letters."""
    now = utcnow()

    def entry(key: str, flow: str, hours_ago: float, state: str) -> None:
        ledger.claim(key, "h" * 64, flow=flow, system="erp", action="create", ref=key)
        if state == "done":
            ledger.complete(key, {"id": key})
        elif state == "dead":
            ledger.fail(key, "refused", dead=True)
        at = now - timedelta(hours=hours_ago)
        ledger.backdate_journal_entry(key, created=at - timedelta(minutes=5), updated=at)

    for i in range(30):
        entry(f"erp.sale:4000001000001:PO-{i}", "edi_orders_inbound", (i * 7) % 23 + 0.5, "done")
    for i in range(12):
        entry(f"crm.deal:{i}", "crm_push", (i * 5) % 20 + 0.2, "done")
    entry("erp.sale:4000001000001:PO-BAD", "edi_orders_inbound", 3, "dead")
    entry("crm.deal:pending", "crm_push", 2, "pending")
    ledger.dead_letter(
        "edi_orders_inbound",
        "erp.sale:4000001000001:PO-BAD",
        "unknown GTIN 4006381333931 on line 2: add the product to the ERP, then replay",
        error_class="PermanentError",
        system="erp",
        partner="kaufhaus-nord",
    )
    ledger.dead_letter(
        "crm_push",
        "crm.deal:77",
        "CRM refused the deal: property amount must be a number",
        error_class="PermanentError",
        system="crm",
    )
    ledger.advance_cursor("erp.sales.changed", "2025-06-01T10:00:00+00:00")
    for flow, scope, items in (("edi_orders_inbound", "kaufhaus-nord", 30), ("crm_push", "crm", 12),
                               ("erp_reference_check", "erp", 25)):  # fmt: skip
        run = ledger.run_started(flow, scope, "run", {})
        ledger.run_finished(run, status="ok", counts={"items": items}, items=items)
    return {"flows": {"edi_orders_inbound", "crm_push"}}


@dataclass
class OpsServer:
    """A running api-server with the hub plugin, its admin login and the ledger it shows."""

    url: str
    ledger: Ledger
    password: str
    home: Path
    viewer_password: str = ""

    def token(self, user: str = airflow_env.ADMIN_USER) -> str:
        password = self.password if user == airflow_env.ADMIN_USER else self.viewer_password
        response = httpx.post(
            f"{self.url}/auth/token", json={"username": user, "password": password}, timeout=10.0
        )
        assert response.status_code in (200, 201), response.text
        return str(response.json()["access_token"])


@pytest.fixture(scope="module")
def ops_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpsServer]:
    from tests.fixtures.airflow import template_db

    root = tmp_path_factory.mktemp("ops")
    home = root / "airflow"
    env = {**os.environ, **airflow_env.environment(home)}
    env.pop("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", None)
    env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS"] = "False"
    env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"] = "admin:admin,watcher:viewer"
    passwords = home / airflow_env.PASSWORDS_FILE_NAME
    airflow_env.ensure_admin_password(passwords)
    viewer_password = airflow_env.ensure_admin_password(passwords, user="watcher")
    env["AIRFLOW_CONN_HUB_METRICS"] = json.dumps({"conn_type": "http", "password": SCRAPE_TOKEN})
    shutil.copyfile(template_db(), home / "airflow.db")
    ledger_url = f"sqlite:///{root / 'ledger.sqlite'}"
    env.update({"HUB_HOME": str(root / "hub"), "HUB_DATABASE_URL": ledger_url})
    ledger = Ledger(ledger_url)
    ledger.upgrade()
    seed_ledger(ledger)

    port = free_port()
    log = root / "api-server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "airflow", "api-server", "-H", "127.0.0.1", "-p", str(port)],
            env=env,
            cwd=airflow_env.PROJECT_ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(f"{url}/api/v2/monitor/health", proc, log, START_TIMEOUT)
        password = airflow_env.ensure_admin_password(home / airflow_env.PASSWORDS_FILE_NAME)
        yield OpsServer(url, ledger, password, home, viewer_password)
    finally:
        os.killpg(proc.pid, 15)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait()
        ledger.dispose()


def test_endpoints_refuse_anonymous_callers(ops_server: OpsServer) -> None:
    for path in ("/hub/health", "/hub/metrics"):
        response = httpx.get(f"{ops_server.url}{path}", timeout=10.0)
        assert response.status_code == 401, (path, response.status_code, response.text[:200])
        assert "edi_orders_inbound" not in response.text
    forged = httpx.get(
        f"{ops_server.url}/hub/health", headers={"Authorization": "Bearer not-a-jwt"}, timeout=10
    )
    assert forged.status_code in (401, 403)
    page = httpx.get(f"{ops_server.url}/hub/", timeout=10.0, follow_redirects=False)
    assert page.status_code == 303
    assert "/login" in page.headers["location"]
    assert "unknown GTIN" not in page.text
    # No anonymous admin: Airflow's own API refuses too, and there is no password-less token.
    assert httpx.get(f"{ops_server.url}/api/v2/dags", timeout=10.0).status_code == 401
    wrong = httpx.post(
        f"{ops_server.url}/auth/token",
        json={"username": "admin", "password": "wrong"},
        timeout=10.0,
    )
    assert wrong.status_code == 401


def test_password_file_is_private(ops_server: OpsServer) -> None:
    path = ops_server.home / airflow_env.PASSWORDS_FILE_NAME
    assert path.stat().st_mode & 0o077 == 0
    log = (ops_server.home.parent / "api-server.log").read_text()
    assert ops_server.password not in log  # Airflow did not have to generate and print one


def _normalise(value: Any) -> Any:
    """Drop values that move with the clock between two calls (ages, lags, timestamps of now)."""
    volatile = ("generated", "now", "age", "ago", "lag", "checked_at")
    if isinstance(value, dict):
        return {
            k: ("<volatile>" if any(v in k.lower() for v in volatile) else _normalise(v))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_normalise(v) for v in value]
    return value


def test_health_equals_hub_status(ops_server: OpsServer, monkeypatch: pytest.MonkeyPatch) -> None:
    status = pytest.importorskip("hub.ops.status", reason="hub.ops.status (ops-cli) not landed")
    from hub.bootstrap import Hub

    db = f"sqlite:///{ops_server.home / 'airflow.db'}"  # the pools check reads the same DB
    monkeypatch.setenv("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", db)

    response = httpx.get(
        f"{ops_server.url}/hub/health",
        headers={"Authorization": f"Bearer {ops_server.token()}"},
        timeout=30.0,
    )
    assert response.status_code == 200, response.text[:500]
    served = response.json()
    hub = Hub(ops_server.ledger, home=ops_server.home.parent / "hub")
    expected = status.collect(hub)
    import json

    assert _normalise(served) == _normalise(json.loads(json.dumps(expected, default=str)))
    assert "edi_orders_inbound" in response.text


def test_metrics_are_prometheus_text(ops_server: OpsServer) -> None:
    pytest.importorskip("hub.ops.metrics", reason="hub.ops.metrics (ops-cli) not landed")
    response = httpx.get(
        f"{ops_server.url}/hub/metrics",
        headers={"Authorization": f"Bearer {ops_server.token()}"},
        timeout=30.0,
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert "# TYPE" in response.text
    # a Prometheus scraper: the static token of the hub_metrics connection, no Airflow login
    scraped = httpx.get(f"{ops_server.url}/hub/metrics", timeout=30.0,
                        headers={"Authorization": f"Bearer {SCRAPE_TOKEN}"})  # fmt: skip
    assert scraped.status_code == 200 and "hub_up 1.0" in scraped.text
    wrong = httpx.get(f"{ops_server.url}/hub/metrics", timeout=30.0,
                      headers={"Authorization": f"Bearer {SCRAPE_TOKEN}x"})  # fmt: skip
    assert wrong.status_code in (401, 403) and "hub_up" not in wrong.text
    health = httpx.get(f"{ops_server.url}/hub/health", timeout=30.0,
                       headers={"Authorization": f"Bearer {SCRAPE_TOKEN}"})  # fmt: skip
    assert health.status_code in (401, 403)  # the scrape token opens the metrics only


def test_page_renders_flows_dead_letters_and_charts_in_chromium(
    ops_server: OpsServer, tmp_path: Path
) -> None:
    screenshot = (
        README_SCREENSHOT if os.environ.get("HUB_UPDATE_SCREENSHOT") else tmp_path / "ops-page.png"
    )
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: .ci/run installs Debian's chromium")
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium)")
    pytest.importorskip("hub.ops.status", reason="hub.ops.status (ops-cli) not landed")
    from playwright.sync_api import sync_playwright

    token = ops_server.token()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            # The browser first proves the page is behind the login...
            page = context.new_page()
            page.goto(f"{ops_server.url}/hub/")
            assert "/hub/" not in page.url or page.locator("#flows").count() == 0
            # ...then carries the JWT cookie Airflow's UI sets after login.
            context.add_cookies([{"name": "_token", "value": token, "url": ops_server.url}])
            page.goto(f"{ops_server.url}/hub/")
            page.wait_for_selector("#charts svg.chart-volume", timeout=15_000)

            assert page.title() == "ERP sales hub: operations"
            flows_text = page.locator("#flows").inner_text()
            assert "edi_orders_inbound" in flows_text and "crm_push" in flows_text
            letters = page.locator("#dead-letters tbody tr")
            assert letters.count() == 2
            letters_text = page.locator("#dead-letters").inner_text()
            assert "unknown GTIN 4006381333931" in letters_text
            assert "kaufhaus-nord" in letters_text
            # one volume and one lag chart per flow, with bars and a line actually drawn
            for flow in ("edi_orders_inbound", "crm_push"):
                card = page.locator(f'.chart-card[data-flow="{flow}"]')
                assert card.locator("svg.chart-volume rect.bar-done").count() > 0
                assert card.locator("svg.chart-lag polyline.lag-line").count() == 1
                box = card.locator("svg.chart-volume").bounding_box()
                assert box is not None and box["width"] > 100 and box["height"] > 50
            dead_bars = page.locator(
                '.chart-card[data-flow="edi_orders_inbound"] svg.chart-volume rect.bar-failed'
            )
            assert dead_bars.count() == 1
            _check_fixed_page(page)
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(screenshot), full_page=True)
            _discard_from_the_page(page, ops_server)
            viewer = browser.new_context(viewport={"width": 1280, "height": 900})
            viewer.add_cookies([{"name": "_token", "value": ops_server.token("watcher"),
                                 "url": ops_server.url}])  # fmt: skip
            seen = viewer.new_page()
            seen.goto(f"{ops_server.url}/hub/")
            seen.wait_for_selector("#flows")
            assert seen.locator("#dead-letters form").count() == 0  # a viewer gets no actions
        finally:
            browser.close()
    assert screenshot.stat().st_size > 10_000


def _check_fixed_page(page: Any) -> None:
    """Readable headers, a last success per flow that ran, a DAG link and a chart per flow."""
    heads = page.locator("#flows thead th").all_inner_texts()
    assert heads[:6] == ["Flow", "Partner / system", "Runs in DAG", "Healthy",
                         "Last run (UTC)", "Last success (UTC)"]  # fmt: skip
    row = page.locator('#flows tr[data-flow="edi_orders_inbound"]').first
    last_success = row.locator("td").nth(5).inner_text()
    assert last_success[:2] == "20" and "never" not in last_success  # a date, not "–"
    link = row.locator("a.dag-link")
    assert link.get_attribute("href") == "/dags/edi_orders_inbound/runs"
    assert page.locator('#flows tr[data-flow="crm_sync"]').count() == 0  # composite: its parts
    for flow in page.locator("#flows tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.flow)"
    ):
        assert page.locator(f'.chart-card[data-flow="{flow}"]').count() == 1, flow
    reference = page.locator('.chart-card[data-flow="erp_reference_check"]')
    assert reference.locator("svg.chart-volume rect.bar-done").count() > 0  # from its runs
    assert "Lag" not in heads and "last_success" not in " ".join(heads)


def _discard_from_the_page(page: Any, ops_server: OpsServer) -> None:
    """An admin discards a letter with the page's form; the ledger audits the user's name;
    a viewer's post is refused, and so is a post from another site."""
    from hub.ops.deadletters import show

    [letter] = [d for d in ops_server.ledger.dead_letters() if d.flow == "crm_push"]
    form = page.locator(f'#dead-letters tr[data-id="{letter.id}"] form').nth(1)
    form.locator('input[name="reason"]').fill("duplicate deal, fixed in the CRM")
    form.locator("button").click()
    page.wait_for_selector("#notice")
    assert "discarded by admin (ops page)" in page.locator("#notice").inner_text()
    assert page.locator("#dead-letters tbody tr").count() == 1
    audit = show(ops_server.ledger, letter.id)["audit"]
    assert audit[-1]["by"] == "admin (ops page)" and audit[-1]["action"] == "discard"
    [other] = ops_server.ledger.dead_letters()
    url = f"{ops_server.url}/hub/dead-letters/{other.id}/discard"
    as_viewer = {"Authorization": f"Bearer {ops_server.token('watcher')}", "Origin": ops_server.url}
    viewer = httpx.post(url, data={"reason": "x"}, timeout=30, headers=as_viewer)
    assert viewer.status_code == 403
    elsewhere = {"Authorization": f"Bearer {ops_server.token()}", "Origin": "https://evil.example"}
    foreign = httpx.post(url, data={"reason": "x"}, timeout=30, headers=elsewhere)
    assert foreign.status_code == 403
    assert [d.id for d in ops_server.ledger.dead_letters()] == [other.id]
