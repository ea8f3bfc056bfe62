"""CRM wiring: config/crm.yaml validated, and the CRM port built from the ``hub_crm`` connection.

``Hub.crm`` (hub/bootstrap.py) calls ``crm_from_settings`` lazily; tests pass a typed
``CrmPort`` (``FakeCrm`` or a ``CrmClient`` on the sandbox) to ``Hub(..., crm=...)`` instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import ValidationError

from connectors.crm.client import CrmClient
from connectors.crm.port import CrmPort
from connectors.crm.ratelimit import RateBudget
from connectors.http import RetryPolicy
from hub import settings
from schemas.crm_config import CrmConfig

if TYPE_CHECKING:
    from hub.ledger import Ledger

CONN_ID = "hub_crm"


def load_config(path: Path | None = None) -> CrmConfig:
    """``config/crm.yaml`` validated; defaults when the file does not exist."""
    from hub.config import ConfigError

    file = path or settings.config_dir() / "crm.yaml"
    if not file.exists():
        return CrmConfig()
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
        return CrmConfig.model_validate(data)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{file}: not valid YAML: {exc}", system="config") from exc
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(f"{file}: {problems}", system="config") from exc


def make_crm(
    base_url: str,
    token: str,
    *,
    id_property: str,
    budget: RateBudget | None = None,
    policy: RetryPolicy | None = None,
    timeout: tuple[float, float] = (3.05, 30.0),
    account: str | None = None,
) -> CrmClient:
    """The HubSpot adapter of the CRM port for one account."""
    return CrmClient(
        base_url, token, account=account, id_property=id_property, budget=budget, policy=policy,
        timeout=timeout,
    )  # fmt: skip


def crm_from_settings(ledger: Ledger, config: CrmConfig) -> CrmClient:
    """The CRM of the ``hub_crm`` connection: its password is the private-app token; ``extra``
    may set ``account`` (the rate budget key, e.g. the portal id), ``timeout``, ``attempts``.
    The request budget is shared through the ledger (or Redis when ``HUB_REDIS_URL`` is set).
    """
    from hub.ratebudget import rate_budget

    conn = settings.connection(CONN_ID)
    extra: dict[str, Any] = conn.extra
    return make_crm(
        conn.base_url(),
        conn.password or "",
        id_property=config.id_property,
        budget=rate_budget(ledger),
        policy=RetryPolicy(attempts=int(extra.get("attempts", 5))),
        timeout=(3.05, float(extra.get("timeout", 30))),
        account=extra.get("account") or CONN_ID,
    )


def check_pipeline(crm: CrmPort, config: CrmConfig) -> None:
    """The configured deal pipeline and every stage config/crm.yaml names exist in the CRM
    (its pipelines API), else a PermanentError naming the setting, the stage and the stages
    there are: checked when a run starts, before anything is written."""
    from schemas.errors import PermanentError

    pipelines = {p.id: p for p in crm.pipelines("deals")}
    where = "config/crm.yaml"
    pipeline = pipelines.get(config.pipeline)
    if pipeline is None:
        raise PermanentError(
            f"{where} pipeline: the CRM has no deal pipeline {config.pipeline!r} (it has "
            f"{', '.join(sorted(pipelines)) or 'none'}): set pipeline to one of them",
            system="config", code="unknown_pipeline",
        )  # fmt: skip
    for setting, stage in config.stages_used().items():
        if stage not in pipeline.stages:
            raise PermanentError(
                f"{where} {setting}: {stage!r} is not a stage of the CRM's deal pipeline "
                f"{pipeline.id!r} ({', '.join(pipeline.stages)}): use one of these stage ids",
                system="config", code="unknown_stage",
            )  # fmt: skip
