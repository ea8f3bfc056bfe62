"""The production image carries what runs in production and nothing else (issue 12): the
hub's wheel holds the ops plugin as an ``airflow.plugins`` entry point, the runtime lock has
no test tools, linters or sandbox, the runtime stage copies the DAGs and no config, and the
sandbox lives in its own stage. Checked statically: no Docker engine on these machines."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
RUNTIME_LOCK = ROOT / "requirements-runtime.lock"
FULL_LOCK = ROOT / "requirements.lock"
TEST_TOOLS = {"pytest", "playwright", "mypy", "ruff", "hypothesis", "trytond", "asyncssh",
              "aiosmtpd", "openapi-core", "pytest-timeout"}  # fmt: skip
RELOCK = (
    ".venv/bin/uv pip compile pyproject.toml requirements-image.in --python-version 3.11 "
    "-c requirements.lock -o requirements-runtime.lock --generate-hashes -q"
)


def _pins(lock: Path) -> dict[str, str]:
    found = re.findall(r"^([A-Za-z0-9_.\-\[\]]+)==([^\s\\]+)", lock.read_text(), re.MULTILINE)
    return {re.sub(r"\[.*\]", "", n).lower().replace("_", "-"): v for n, v in found}


def _stage(name: str) -> str:
    text = DOCKERFILE.read_text(encoding="utf-8")
    parts = re.split(r"^FROM ", text, flags=re.MULTILINE)
    [stage] = [p for p in parts if re.match(rf"\S+ AS {name}\s", p)]
    return stage


def test_runtime_lock_has_no_test_tools_and_agrees_with_the_full_lock() -> None:
    runtime, full = _pins(RUNTIME_LOCK), _pins(FULL_LOCK)
    assert TEST_TOOLS & set(runtime) == set()
    assert {"apache-airflow", "prometheus-client", "paramiko"} <= set(runtime)
    build_tools = {"setuptools", "wheel"}  # requirements-image.in: the build stage's only
    differ = {
        n: (v, full.get(n)) for n, v in runtime.items() if full.get(n) != v and n not in build_tools
    }
    assert differ == {}, f"re-lock the runtime image: {RELOCK}"
    import tomllib

    wanted = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    names = {re.split(r"[<>=\[ ;]", w, maxsplit=1)[0].lower().replace("_", "-") for w in wanted}
    assert names - set(runtime) == set(), f"a new dependency: {RELOCK}"


def test_runtime_stage_has_dags_plugin_and_no_config_or_sandbox() -> None:
    build, runtime, base = _stage("build"), _stage("runtime"), _stage("base")
    assert "requirements-runtime.lock" in build and "--require-hashes" in build
    assert "rm -rf /opt/venv/lib/python3.11/site-packages/sandbox" in build
    assert "COPY --from=build /opt/venv" in runtime
    assert re.search(r"^COPY .*\bdags /opt/hub/dags", base, re.MULTILINE)
    assert "config" not in " ".join(ln for ln in base.splitlines() if ln.startswith("COPY"))
    assert "AIRFLOW__CORE__PLUGINS_FOLDER=/opt/airflow/plugins" in base
    sandbox = _stage("build-sandbox")
    assert "requirements.lock" in sandbox  # test tools only ever in the sandbox image
    last = re.findall(r"^FROM \S+ AS (\S+)", DOCKERFILE.read_text(), re.MULTILINE)[-1]
    assert last == "runtime"  # `docker build .` builds the production image


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    uv = Path(sys.executable).with_name("uv")
    subprocess.run(
        [str(uv), "build", "--wheel", "-q", "-o", str(out), str(ROOT)],
        check=True, capture_output=True, timeout=300, cwd=out,
    )  # fmt: skip
    [built] = out.glob("erp_sales_hub-*.whl")
    return built


def test_the_wheel_registers_the_ops_plugin(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as whl:
        names = whl.namelist()
        [entry_points] = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        text = whl.read(entry_points).decode()
    assert "[airflow.plugins]\nhub_ops = hub.airflow_plugin:HubOpsPlugin" in text
    assert "hub/airflow_plugin.py" in names and "hub/web/page.py" in names
    assert not [n for n in names if n.startswith(("tests/", "dags/", "config/"))]


def test_the_plugin_loads_from_its_entry_point() -> None:
    from importlib.metadata import entry_points

    [ep] = [e for e in entry_points(group="airflow.plugins") if e.name == "hub_ops"]
    plugin = ep.load()
    assert plugin.name == "hub_ops"
    assert [a["url_prefix"] for a in plugin.fastapi_apps] == ["/hub"]
