"""docker-compose.yml, Dockerfile and .env.example checked statically (no Docker engine here)."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
ENV_EXAMPLE = ROOT / ".env.example"

AIRFLOW_COMPONENTS = {"api-server", "scheduler", "dag-processor", "triggerer", "celery worker"}
# Settings that must be identical in every Airflow service, or the stack splits in two.
SHARED_AIRFLOW_SETTINGS = (
    "AIRFLOW__CORE__EXECUTOR",
    "AIRFLOW__CORE__EXECUTION_API_SERVER_URL",
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC",
    "AIRFLOW__CELERY__BROKER_URL",
    "AIRFLOW__CELERY__RESULT_BACKEND",
    "AIRFLOW__CORE__FERNET_KEY",
    "AIRFLOW__API_AUTH__JWT_SECRET",
    "AIRFLOW__API__SECRET_KEY",
    "HUB_DATABASE_URL",
    "AIRFLOW_CONN_HUB_ERP",
)
SECRET_NAME = re.compile(r"PASSWORD|SECRET|FERNET|TOKEN|_KEY$|^AIRFLOW_CONN_", re.IGNORECASE)
# ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?message}, ${VAR?message}
VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")
PLACEHOLDER = "change-me"


def _load(text: str) -> dict[str, Any]:
    data = yaml.safe_load(text)
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def compose_text() -> str:
    return COMPOSE_FILE.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def compose(compose_text: str) -> dict[str, Any]:
    """The file as written: ``${VAR}`` references unresolved."""
    return _load(compose_text)


@pytest.fixture(scope="module")
def resolved(compose: dict[str, Any]) -> dict[str, Any]:
    """The model compose would run with the values of .env.example."""
    return interpolate_model(compose, read_env_file(ENV_EXAMPLE))


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines as compose reads a .env file (single quotes: literal)."""
    values: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        assert sep, f"{path.name}: not KEY=VALUE: {line!r}"
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's variable interpolation; a missing required variable raises KeyError."""

    def one(match: re.Match[str]) -> str:
        name, op, arg = match.group(1), match.group(2) or "", match.group(3) or ""
        value = env.get(name)
        unset = value is None or (op.startswith(":") and value == "")
        if op.endswith("?") and unset:
            raise KeyError(f"{name} is required: {arg}")
        if op.endswith("-") and unset:
            return arg
        return value or ""

    return VAR.sub(one, text.replace("$$", "\0")).replace("\0", "$")


def interpolate_model(node: Any, env: dict[str, str]) -> Any:
    """Interpolate every string of a parsed compose model, as compose does (after YAML)."""
    if isinstance(node, dict):
        return {k: interpolate_model(v, env) for k, v in node.items()}
    if isinstance(node, list):
        return [interpolate_model(v, env) for v in node]
    return interpolate(node, env) if isinstance(node, str) else node


def _env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


def _command(service: dict[str, Any]) -> str:
    cmd = service.get("command") or ""
    return cmd if isinstance(cmd, str) else shlex.join(str(part) for part in cmd)


def _airflow_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: svc
        for name, svc in compose["services"].items()
        if any(k.startswith("AIRFLOW__") for k in _env(svc))
    }


def test_compose_validates_against_the_compose_specification(
    shared_dir: Path, compose: dict[str, Any], resolved: dict[str, Any]
) -> None:
    import jsonschema

    schema_file = shared_dir / "contracts" / "compose-spec" / "compose-spec.json"
    if not schema_file.exists():
        pytest.skip(f"Compose Specification schema not found at {schema_file}")
    schema = json.loads(schema_file.read_text(encoding="utf-8"))
    validator = jsonschema.Draft7Validator(schema)
    for model in (compose, resolved):
        errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in
                  validator.iter_errors(model)]  # fmt: skip
        assert errors == []


def test_every_service_is_one_the_hub_uses(resolved: dict[str, Any]) -> None:
    services = resolved["services"]
    env_example = read_env_file(ENV_EXAMPLE)
    # Host names other services (or the documented connections) point at.
    referenced: set[str] = set()
    for svc in services.values():
        for value in _env(svc).values():
            host = urlsplit(value).hostname if "://" in value else None
            if host:
                referenced.add(host)
    for name, value in env_example.items():
        if name.startswith("AIRFLOW_CONN_") and value:
            referenced.add(json.loads(value)["host"])
    unused: list[str] = []
    for name, svc in services.items():
        command = _command(svc)
        component = command.removeprefix("airflow ") if command.startswith("airflow ") else None
        is_init = "airflow db migrate" in command and "hub ledger upgrade" in command
        if not (component in AIRFLOW_COMPONENTS or is_init or name in referenced):
            unused.append(name)
    assert unused == []
    started = {_command(s).removeprefix("airflow ") for s in services.values()}
    assert started >= AIRFLOW_COMPONENTS, "an Airflow component is missing"
    assert {"postgres", "redis"} <= referenced


def test_sandbox_erp_is_only_in_the_sandbox_profile(compose: dict[str, Any]) -> None:
    from sandbox.cli import app

    commands = {c.name or c.callback.__name__: c for c in app.registered_commands}
    erp = [s for s in compose["services"].values() if _command(s).startswith("hub sandbox")]
    assert len(erp) == 1
    assert erp[0]["profiles"] == ["sandbox"]
    argv = shlex.split(_command(erp[0]))
    assert argv[2] in commands
    # every option compose passes is one the CLI accepts (inside a container: --host 0.0.0.0)
    import typer.main

    accepted = {o for p in typer.main.get_command(app).commands[argv[2]].params for o in p.opts}
    assert {a for a in argv[3:] if a.startswith("--")} <= accepted
    unprofiled = [n for n, s in compose["services"].items() if "sandbox" in s.get("profiles", [])]
    assert len(unprofiled) == 1


def test_no_secret_literal_in_compose(compose: dict[str, Any], compose_text: str) -> None:
    problems: list[str] = []
    for name, svc in compose["services"].items():
        for key, value in _env(svc).items():
            where = f"{name}.{key}"
            if "://" in value:
                # what is left of the URL's password once every ${VAR} is taken out
                if urlsplit(VAR.sub("", value)).password:
                    problems.append(f"{where}: password in URL is a literal")
            elif SECRET_NAME.search(key):
                match = VAR.fullmatch(value)
                if not match:
                    problems.append(f"{where}: secret is a literal, use ${{VAR:?...}}")
                elif (match.group(2) or "").endswith("-") and match.group(3):
                    problems.append(f"{where}: secret has a literal default")
    assert problems == []
    placeholders = {v for v in read_env_file(ENV_EXAMPLE).values() if PLACEHOLDER in v}
    assert not [p for p in placeholders if p in compose_text]


def test_airflow_settings_agree_across_airflow_services(
    compose: dict[str, Any], resolved: dict[str, Any]
) -> None:
    services = _airflow_services(compose)
    assert len(services) >= len(AIRFLOW_COMPONENTS) + 1  # components + init job
    for setting in SHARED_AIRFLOW_SETTINGS:
        values = {name: _env(svc).get(setting) for name, svc in services.items()}
        assert len(set(values.values())) == 1, f"{setting} differs: {values}"
        assert None not in values.values(), f"{setting} missing: {values}"

    env = _env(resolved["services"][next(iter(services))])
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    names = set(compose["services"])
    broker = urlsplit(env["AIRFLOW__CELERY__BROKER_URL"])
    assert broker.scheme == "redis" and broker.hostname in names
    backend = urlsplit(env["AIRFLOW__CELERY__RESULT_BACKEND"].removeprefix("db+"))
    metadata = urlsplit(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
    assert backend.scheme.startswith("postgresql") and metadata.scheme.startswith("postgresql")
    assert (backend.hostname, backend.path) == (metadata.hostname, metadata.path)
    ledger = urlsplit(env["HUB_DATABASE_URL"])
    assert ledger.hostname == metadata.hostname and ledger.path != metadata.path
    api = urlsplit(env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"])
    api_services = [n for n, s in services.items() if _command(s) == "airflow api-server"]
    assert api.hostname == api_services[0] and api.path == "/execution/"


def test_postgres_init_creates_both_databases(resolved: dict[str, Any]) -> None:
    pg = resolved["services"]["postgres"]
    script = resolved["configs"][pg["configs"][0]["source"]]["content"]
    created = set(re.findall(r"CREATE DATABASE (\w+)", script))
    env = _env(next(iter(_airflow_services(resolved).values())))
    wanted = {
        urlsplit(env[k]).path.lstrip("/")
        for k in ("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "HUB_DATABASE_URL")
    }
    assert wanted == created
    assert pg["configs"][0]["target"].startswith("/docker-entrypoint-initdb.d/")


def test_long_running_services_have_healthchecks_and_order(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, svc in services.items():
        if svc.get("restart") != "no":
            assert "test" in (svc.get("healthcheck") or {}), f"{name} has no healthcheck"
        for dep, cond in (svc.get("depends_on") or {}).items():
            assert dep in services, f"{name} depends on unknown {dep}"
            if cond["condition"] == "service_healthy":
                assert "healthcheck" in services[dep], f"{name} waits for {dep}'s health"
    init = [n for n, s in services.items() if "airflow db migrate" in _command(s)]
    assert len(init) == 1
    for name, svc in _airflow_services(compose).items():
        if name != init[0]:
            assert svc["depends_on"][init[0]]["condition"] == "service_completed_successfully"


def test_init_job_commands_exist() -> None:
    from hub import airflow_env
    from hub.cli.ledger import app as ledger_app

    assert "upgrade" in {c.name or c.callback.__name__ for c in ledger_app.registered_commands}
    with pytest.raises(SystemExit) as excinfo:
        airflow_env.main(["--help"])
    assert excinfo.value.code == 0


def test_hub_services_use_the_image_built_from_the_dockerfile(compose: dict[str, Any]) -> None:
    stages = set(re.findall(r"^FROM \S+ AS (\S+)", DOCKERFILE.read_text(), re.MULTILINE))
    runtime = compose["services"]["airflow-init"]
    assert runtime["build"]["target"] == "runtime" and "runtime" in stages
    for name, svc in compose["services"].items():
        if name in ("postgres", "redis"):
            continue
        assert svc["build"]["dockerfile"] == DOCKERFILE.name, name
        if "sandbox" in svc.get("profiles", []):  # the demo's Tryton: runtime + sandbox
            assert svc["build"]["target"] == "sandbox" and "sandbox" in stages, name
            assert svc["image"] != runtime["image"], name
        else:
            assert svc["image"] == runtime["image"], name
            assert svc["build"]["target"] == "runtime", name


def test_partner_config_is_mounted_not_baked(compose: dict[str, Any]) -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    assert not re.search(r"^COPY\b.*\bconfig\b", text, re.MULTILINE), "config baked in"
    for name, svc in compose["services"].items():
        if _command(svc).startswith("airflow ") and "db migrate" not in _command(svc):
            mounts = [str(v) for v in svc.get("volumes", [])]
            assert any(m.endswith(":/opt/hub/config:ro") for m in mounts), name


def test_dockerfile_installs_only_from_the_lock_files() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    assert re.search(r"^FROM python:3\.11-slim\b", text, re.MULTILINE)
    commands = " ".join(text.replace("\\\n", " ").split())
    installs = re.findall(r"(?:pip install|uv pip (?:install|sync))[^&]*", commands)
    assert installs, "the Dockerfile installs nothing"
    for install in installs:
        from_lock = "--require-hashes" in install and ".lock" in install
        the_hub_alone = "--no-deps" in install and re.search(r"\s\.(\s|$)", install)
        assert from_lock or the_hub_alone, f"unpinned install: {install!r}"
    assert any("requirements.lock" in i and "--require-hashes" in i for i in installs)


def test_env_example_documents_every_variable_with_placeholders(compose_text: str) -> None:
    example = read_env_file(ENV_EXAMPLE)
    used = {m.group(1) for m in VAR.finditer(compose_text.replace("$$", ""))}
    required = {m.group(1) for m in VAR.finditer(compose_text) if (m.group(2) or "").endswith("?")}
    assert used - set(example) == set()
    interpolate(compose_text, example)  # every required variable is set
    for name in required:
        if SECRET_NAME.search(name):
            assert PLACEHOLDER in example[name], f"{name} should be a placeholder"
