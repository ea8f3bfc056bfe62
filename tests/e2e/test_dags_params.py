"""Every DAG declares ``params`` from the flow registry, with JSON schema: Airflow refuses a
bad value when the run is triggered (before any task), draws the trigger form from it, and
an unknown conf key or partner fails the first task at once, without a retry (issue 12)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from hub.flows.registry import REGISTRY
from hub.webhooks.changes import CHANGE_PATTERN, CHANGES

pytestmark = pytest.mark.e2e

# every DAG a registered flow runs in (a new flow's DAG is checked without editing this test)
HUB_DAGS = tuple(sorted({f.dag for f in REGISTRY.values() if f.dag}))


def test_every_dag_has_a_param_per_flow_parameter(dag_bag: Any) -> None:
    assert {"einvoice_outbound", "edi_orders_inbound", "crm_sync"} <= set(HUB_DAGS)
    for dag_id in HUB_DAGS:
        dag = dag_bag.get_dag(dag_id)
        wanted = {p.name for f in REGISTRY.values() if f.dag == dag_id for p in f.params}
        assert set(dag.params.keys()) == wanted, dag_id
        for name in set(dag.params.keys()):
            param = dag.params.get_param(name)
            assert param.value is None and param.description, (dag_id, name)
            assert "null" in param.schema["type"], (dag_id, name)
    inbound = dag_bag.get_dag("edi_orders_inbound").params
    assert inbound.get_param("max_files").schema["type"] == ["null", "integer"]
    assert inbound.get_param("partner").schema["pattern"] == r"^[A-Za-z0-9_.-]+$"
    # the webhooks' changed objects: a parameter of the pull, each item checked as type:id
    changes = dag_bag.get_dag("crm_sync").params.get_param(CHANGES)
    assert changes.schema["items"]["pattern"] == CHANGE_PATTERN


def _validated(dag: Any, conf: dict[str, Any]) -> dict[str, Any]:
    """The run's params as Airflow resolves them when it creates the run."""
    params = copy.deepcopy(dag.params)
    params.update(conf)
    return dict(params.validate())


@pytest.mark.parametrize(
    "conf",
    [{"max_files": "abc"}, {"max_files": -1}, {"partner": "no spaces allowed"},
     {"documents": "DESADV"}, {"as_of": "yesterday"}],
    ids=["text-for-int", "negative", "bad-partner-id", "string-for-list", "bad-date"],
)  # fmt: skip
def test_a_bad_value_is_refused(dag_bag: Any, conf: dict[str, Any]) -> None:
    from airflow.sdk.definitions.param import ParamValidationError

    dag_id = (
        "edi_orders_inbound" if {"max_files", "partner"} & set(conf) else "edi_documents_outbound"
    )
    with pytest.raises(ParamValidationError, match="Invalid input for param"):
        _validated(dag_bag.get_dag(dag_id), conf)


def test_a_run_with_a_bad_value_is_never_created(hub_state: Path, run_dag: Any) -> None:
    from airflow.sdk.definitions.param import ParamValidationError

    with pytest.raises(ParamValidationError, match="max_files"):
        run_dag("edi_orders_inbound", {"max_files": "abc"})


def test_good_values_and_empty_form_fields_pass(dag_bag: Any) -> None:
    dag = dag_bag.get_dag("edi_documents_outbound")
    resolved = _validated(dag, {"partner": "kaufhaus-nord", "documents": ["DESADV"],
                                "as_of": "2026-11-01T08:00:00+01:00", "limit": None})  # fmt: skip
    assert resolved["documents"] == ["DESADV"] and resolved["limit"] is None


@pytest.mark.parametrize(
    ("conf", "says"),
    [({"partnr": "kaufhaus-nord"}, "unknown conf key(s) partnr"),
     ({"partner": "nobody"}, "unknown partner 'nobody'")],
    ids=["unknown-key", "unknown-partner"],
)  # fmt: skip
def test_unknown_key_or_partner_fails_at_once_without_retry(
    hub_state: Path, run_dag: Any, conf: dict[str, Any], says: str, capfd: Any
) -> None:
    result = run_dag("edi_orders_inbound", conf)
    out, err = capfd.readouterr()
    assert says in out + err  # the task log names the key or partner
    assert result.state == "failed"
    first = result.tasks["partners"]
    assert first.state == "failed" and first.try_number == 1  # failed at once, no retry
    assert "process_partner" not in result.xcom


def test_a_broken_profile_stops_only_its_partner_in_the_dag(
    hub_state: Path, run_dag: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    from hub.ledger import Ledger
    from hub.settings import PROJECT_ROOT, database_url

    folder = tmp_path / "config" / "partners"
    shutil.copytree(PROJECT_ROOT / "config" / "partners", folder)
    (folder / "nordwind.yaml").write_text("id: nordwind\nname: N\ndecimal_mark: ';'\n")
    monkeypatch.setenv("HUB_CONFIG_DIR", str(folder.parent))
    result = run_dag("edi_orders_inbound")
    assert result.state == "success", result.task_states
    assert sorted(result.returned("partners")) == ["kaufhaus-nord", "markt-sued"]
    ledger = Ledger(database_url())
    try:
        [letter] = ledger.dead_letters(state="open", flow="partner_config")
    finally:
        ledger.dispose()
    assert letter.record_key == str(folder / "nordwind.yaml") and "decimal_mark" in letter.reason
    broken = run_dag("edi_orders_inbound", {"partner": "nordwind"})
    assert broken.state == "failed" and broken.tasks["partners"].try_number == 1
