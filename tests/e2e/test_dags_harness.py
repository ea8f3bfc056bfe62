"""The embedded Airflow environment: user settings win, secrets stay private, migrate runs once."""

from __future__ import annotations

import os
import shutil
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hub import airflow_env
from tests.fixtures.airflow import template_db

pytestmark = pytest.mark.e2e


@pytest.fixture
def clean_environ() -> Iterator[None]:
    """configure() writes os.environ directly: give the whole mapping back afterwards."""
    saved = dict(os.environ)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def test_configure_keeps_what_the_user_exported(tmp_path: Path, clean_environ: None) -> None:
    mine = (tmp_path / "mine").resolve()
    os.environ["AIRFLOW_HOME"] = str(mine)
    os.environ["AIRFLOW__CORE__EXECUTOR"] = "CeleryExecutor"
    os.environ["AIRFLOW__CORE__FERNET_KEY"] = "the-operators-own-key"
    os.environ.pop("AIRFLOW__API_AUTH__JWT_SECRET", None)
    os.environ.pop("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", None)

    applied = airflow_env.configure(tmp_path / "home")

    assert os.environ["AIRFLOW_HOME"] == str(mine)  # everything derived from the user's home
    assert os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == f"sqlite:///{mine / 'airflow.db'}"
    assert (mine / airflow_env.SECRETS_FILE_NAME).exists()
    assert not (tmp_path / "home").exists()

    assert os.environ["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert os.environ["AIRFLOW__CORE__FERNET_KEY"] == "the-operators-own-key"
    assert "AIRFLOW__CORE__EXECUTOR" not in applied
    assert "AIRFLOW__CORE__FERNET_KEY" not in applied
    assert applied["AIRFLOW__API_AUTH__JWT_SECRET"] == airflow_env.MASK
    assert os.environ["AIRFLOW__API_AUTH__JWT_SECRET"] not in ("", airflow_env.MASK)


def test_configure_defaults_to_sqlite_and_local_executor(
    tmp_path: Path, clean_environ: None
) -> None:
    home = tmp_path / "home"
    airflow_env.configure(home, force=True)

    assert os.environ["AIRFLOW_HOME"] == str(home.resolve())
    assert os.environ["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    assert os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] == "False"
    assert os.environ["AIRFLOW__CORE__DAGS_FOLDER"] == str(airflow_env.DAGS_FOLDER)
    assert os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == f"sqlite:///{home / 'airflow.db'}"
    assert str(airflow_env.PROJECT_ROOT) in os.environ["PYTHONPATH"].split(os.pathsep)


def test_generated_secrets_are_private_stable_and_never_returned(
    tmp_path: Path, clean_environ: None
) -> None:
    home = tmp_path / "home"
    applied = airflow_env.configure(home, force=True)
    first = {name: os.environ[name] for name in airflow_env._SECRET_SETTINGS}
    secrets_file = home / airflow_env.SECRETS_FILE_NAME

    assert stat.S_IMODE(secrets_file.stat().st_mode) == 0o600
    assert len(set(first.values())) == len(first)  # distinct, generated values
    assert not set(first.values()) & set(applied.values())

    airflow_env.configure(home, force=True)
    assert {name: os.environ[name] for name in first} == first  # kept in the file, reused


def test_ensure_db_migrates_once_then_skips(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {**os.environ, **airflow_env.environment(home)}
    shutil.copyfile(template_db(), home / "airflow.db")

    assert airflow_env.ensure_db(env) is True  # migrate is idempotent on a migrated DB
    started = time.perf_counter()
    assert airflow_env.ensure_db(env) is False
    assert time.perf_counter() - started < 1.0  # no airflow process started
