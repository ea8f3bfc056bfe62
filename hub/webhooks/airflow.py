"""Webhook changes as Airflow DAG runs: the CRM DAG triggered over Airflow 3's REST API.

When the ``hub_airflow_api`` connection names an Airflow API server (host, port, a user's
login and password; ``schema`` https for TLS), each batch of changed CRM objects becomes a
run of the ``crm_sync`` DAG: a JWT from ``POST /auth/token``, then
``POST /api/v2/dags/crm_sync/dagRuns`` with ``conf = {"changes": ["deals:1080", ...]}``
(the DAG's ``changes`` parameter, validated by Airflow when the run is created). The run is
then an ordinary Airflow run (pool, retries, alerts, logs), and the 15-minute schedule stays
the safety net. A refused token is fetched again once; a 5xx or an unreachable server is a
TransientError (the schedule picks the change up), a 4xx a PermanentError naming the fix.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import requests

from hub.webhooks.changes import CHANGES, conf_changes
from schemas.errors import PermanentError, TransientError

if TYPE_CHECKING:
    from hub.settings import ConnectionInfo
    from hub.webhooks.changes import CrmChange

log = logging.getLogger(__name__)

CONN_ID = "hub_airflow_api"
DAG_ID = "crm_sync"


class AirflowTrigger:
    """``trigger(changes)`` -> the DAG run Airflow created (its id, state and conf)."""

    def __init__(
        self, base_url: str, login: str, password: str, *, dag_id: str = DAG_ID,
        timeout: float = 30.0,
    ) -> None:  # fmt: skip
        self.base_url = base_url.rstrip("/")
        self.dag_id = dag_id
        self._login = (login, password)
        self._timeout = timeout
        self._token: str | None = None
        self._lock = threading.Lock()
        self._session = requests.Session()

    def __repr__(self) -> str:
        return f"AirflowTrigger({self.base_url!r}, dag_id={self.dag_id!r})"

    @classmethod
    def from_connection(cls, conn: ConnectionInfo) -> AirflowTrigger:
        if not (conn.host and conn.login and conn.password):
            raise PermanentError(
                f"connection {conn.conn_id!r} needs host, port, login and password of an "
                "Airflow user allowed to trigger DAG runs",
                system="airflow",
            )
        return cls(conn.base_url(conn.schema or "http"), conn.login, conn.password,
                   dag_id=str(conn.extra.get("dag_id") or DAG_ID))  # fmt: skip

    def __call__(self, changes: Sequence[CrmChange]) -> dict[str, Any]:
        body = {"logical_date": None, "conf": {CHANGES: conf_changes(changes)}}
        path = f"/api/v2/dags/{self.dag_id}/dagRuns"
        response = self._post(path, body, authorized=True)
        if response.status_code == 401:  # the JWT expired: one fresh token, then give up
            self._token = None
            response = self._post(path, body, authorized=True)
        self._check(response, f"trigger DAG {self.dag_id}")
        run = response.json()
        log.info("crm webhook: %d changed objects -> DAG run %s of %s", len(changes),
                 run.get("dag_run_id"), self.dag_id)  # fmt: skip
        return {"dag_run_id": run.get("dag_run_id"), "state": run.get("state"),
                "conf": run.get("conf")}  # fmt: skip

    def _token_now(self) -> str:
        with self._lock:
            if self._token is None:
                user, password = self._login
                response = self._post(
                    "/auth/token", {"username": user, "password": password}, authorized=False
                )
                self._check(response, "log in to the Airflow API")
                self._token = str(response.json()["access_token"])
            return self._token

    def _post(self, path: str, body: dict[str, Any], *, authorized: bool) -> requests.Response:
        headers = {"Authorization": f"Bearer {self._token_now()}"} if authorized else {}
        try:
            return self._session.post(
                self.base_url + path, json=body, headers=headers, timeout=self._timeout
            )
        except requests.RequestException as exc:
            raise TransientError(
                f"Airflow API at {self.base_url} unreachable ({exc.__class__.__name__}); the "
                "CRM DAG's schedule picks the change up",
                system="airflow",
            ) from exc

    def _check(self, response: requests.Response, what: str) -> None:
        if response.status_code < 400:
            return
        text = response.text[:300]
        if response.status_code >= 500 or response.status_code == 429:
            raise TransientError(
                f"{what}: Airflow answered {response.status_code}: {text}", system="airflow"
            )
        raise PermanentError(
            f"{what}: Airflow answered {response.status_code}: {text}; check the "
            f"{CONN_ID} connection (URL, user, password) and that DAG {self.dag_id} exists "
            "and accepts the 'changes' parameter",
            system="airflow",
        )


def airflow_trigger() -> AirflowTrigger | None:
    """The trigger of the configured ``hub_airflow_api`` connection, None when there is none."""
    from hub import settings

    try:
        conn = settings.connection(CONN_ID)
    except PermanentError:
        return None
    return AirflowTrigger.from_connection(conn)
