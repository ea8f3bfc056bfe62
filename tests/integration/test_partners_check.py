"""`hub partners check` logs in to a partner's real SFTP server (asyncssh on loopback) and
verifies its host key: the pinned key passes, an unknown key fails naming its fingerprint."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from hub.cli import app
from hub.settings import PROJECT_ROOT, connection_json
from tests.fixtures.sftp import SftpServer

pytestmark = pytest.mark.integration


def test_check_logs_in_over_sftp_and_verifies_the_host_key(
    sftp_server: SftpServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "config" / "partners"
    folder.mkdir(parents=True)
    profile = yaml.safe_load((PROJECT_ROOT / "config/partners/kaufhaus-nord.yaml").read_text())
    profile["channel"] = {"type": "sftp", "sftp": {"conn_id": "hub_sftp_nord"}}
    (folder / "kaufhaus-nord.yaml").write_text(yaml.safe_dump(profile))
    shutil.copy(PROJECT_ROOT / "config/partners/markt-sued.yaml", folder)
    monkeypatch.setenv("HUB_CONFIG_DIR", str(folder.parent))
    monkeypatch.setenv("HUB_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HUB_DATABASE_URL", f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.ssh/known_hosts of the machine
    conn = {"conn_type": "sftp", "host": sftp_server.host, "port": sftp_server.port,
            "login": sftp_server.username, "password": sftp_server.password}  # fmt: skip

    monkeypatch.setenv("AIRFLOW_CONN_HUB_SFTP_NORD", connection_json(**conn))
    refused = CliRunner().invoke(app, ["partners", "check", "kaufhaus-nord", "--no-erp", "--json"])
    assert refused.exit_code == 1
    [channel] = [c for c in json.loads(refused.stdout)["checks"] if c["check"] == "channel"]
    assert not channel["ok"] and "is not trusted" in channel["detail"]
    assert "SHA256:" in channel["detail"] and sftp_server.password not in refused.stdout

    pinned = connection_json(**conn, extra={"host_key": sftp_server.host_key})
    monkeypatch.setenv("AIRFLOW_CONN_HUB_SFTP_NORD", pinned)
    ok = CliRunner().invoke(app, ["partners", "check", "kaufhaus-nord", "--no-erp", "--json"])
    report = json.loads(ok.stdout)
    assert ok.exit_code == 0 and report["ok"], report
    [channel] = [c for c in report["checks"] if c["check"] == "channel"]
    assert (
        f"sftp://{sftp_server.username}@{sftp_server.host}:{sftp_server.port}" in channel["detail"]
    )
