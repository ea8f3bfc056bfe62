"""`make airflow`'s launcher without starting Airflow (the real start is
tests/e2e/test_make_airflow.py): what it reads from .env and how it starts the components."""

from __future__ import annotations

from pathlib import Path

from hub.airflow_local import COMPONENTS, load_env_file


def test_env_file_gives_connections_and_hub_settings_only(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text(
        "# the compose stack's settings share this file\n"
        "POSTGRES_PASSWORD=change-me\n"
        "AIRFLOW__CORE__EXECUTOR=CeleryExecutor\n"
        'AIRFLOW_CONN_HUB_ERP=\'{"conn_type": "tryton", "host": "127.0.0.1", "port": 8000}\'\n'
        "AIRFLOW_CONN_HUB_CRM=\n"
        "HUB_OPS_URL=http://127.0.0.1:8080/hub/\n"
    )
    assert load_env_file(env) == {
        "AIRFLOW_CONN_HUB_ERP": '{"conn_type": "tryton", "host": "127.0.0.1", "port": 8000}',
        "HUB_OPS_URL": "http://127.0.0.1:8080/hub/",
    }
    assert load_env_file(tmp_path / "missing.env") == {}


def test_components_stay_on_loopback_without_log_servers() -> None:
    assert set(COMPONENTS) == {"api-server", "scheduler", "dag-processor", "triggerer"}
    api = COMPONENTS["api-server"]
    assert api[api.index("--host") + 1] == "127.0.0.1"
    for name in ("scheduler", "triggerer"):  # their log servers bind every interface
        assert "--skip-serve-logs" in COMPONENTS[name]
