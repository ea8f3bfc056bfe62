"""Airflow 3 plugin: the hub's ops endpoints (/hub/health, /hub/metrics, /hub/) behind Airflow auth.

Mounted by Airflow's api-server through ``fastapi_apps`` (``plugins/hub_plugin.py`` is the
entry in the plugins folder). Every route needs a user authenticated by Airflow's auth
manager (the JWT in ``Authorization: Bearer`` or the UI's ``_token`` cookie): JSON and text
routes answer 401 without one, the HTML page redirects to Airflow's login. The status and
metrics come from ``hub.ops.status.collect`` and ``hub.ops.metrics.render``, imported when a
request needs them, so loading the plugin in a scheduler or worker costs nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from airflow.plugins_manager import AirflowPlugin
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse

if TYPE_CHECKING:
    from hub.bootstrap import Hub

URL_PREFIX = "/hub"
PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


async def require_user(request: Request) -> Any:
    """The caller as Airflow's auth manager sees it; 401/403 when there is none."""
    from airflow.api_fastapi.core_api.security import bearer_scheme, get_user

    credentials = await bearer_scheme(request)
    return await get_user(request, None, credentials)


class _HubHolder:
    """One hub (ledger engine) per app, built on first request from the environment."""

    def __init__(self, factory: Callable[[], Hub] | None) -> None:
        self._factory = factory
        self._hub: Hub | None = None
        self._lock = threading.Lock()

    def get(self) -> Hub:
        with self._lock:
            if self._hub is None:
                if self._factory is not None:
                    self._hub = self._factory()
                else:
                    from hub.bootstrap import Hub

                    self._hub = Hub.from_env()
            return self._hub


def status_of(hub: Hub) -> dict[str, Any]:
    """The ``hub status`` document (``hub.ops.status.collect``)."""
    from hub.ops.status import collect

    return collect(hub)


def create_app(hub_factory: Callable[[], Hub] | None = None) -> FastAPI:
    """The FastAPI app Airflow mounts at ``/hub``; ``hub_factory`` defaults to the env's hub."""
    holder = _HubHolder(hub_factory)
    app = FastAPI(title="ERP sales hub operations", docs_url=None, redoc_url=None)
    authenticated = [Depends(require_user)]

    @app.get("/health", dependencies=authenticated)
    def health() -> JSONResponse:
        """The ``hub status --json`` document."""
        return JSONResponse(status_of(holder.get()))

    @app.get("/metrics", dependencies=authenticated)
    def metrics() -> PlainTextResponse:
        """Prometheus text exposition of the hub's metrics."""
        from hub.ops.metrics import render

        return PlainTextResponse(render(holder.get()), media_type=PROMETHEUS_CONTENT_TYPE)

    @app.get("/", response_class=HTMLResponse)
    async def page(request: Request) -> Any:
        """Flows, open dead letters and 24 h charts; unauthenticated browsers go to login."""
        try:
            await require_user(request)
        except HTTPException:
            return RedirectResponse(_login_url(request), status_code=303)
        from starlette.concurrency import run_in_threadpool

        return HTMLResponse(await run_in_threadpool(_render, holder.get()))

    return app


def _login_url(request: Request) -> str:
    try:
        from airflow.api_fastapi.app import get_auth_manager

        return get_auth_manager().get_url_login(next_url=str(request.url))
    except Exception:  # noqa: BLE001 - any auth manager without a login page: Airflow's root
        return "/"


def _render(hub: Hub) -> str:
    from hub.ledger import utcnow
    from hub.web.page import render_page
    from hub.web.series import flow_series

    now = utcnow()
    return render_page(
        status_of(hub),
        hub.ledger.dead_letters(state="open", limit=200),
        flow_series(hub.ledger, now),
        generated_at=now,
    )


class HubOpsPlugin(AirflowPlugin):
    """Registers the ops app under ``/hub`` and a link to it in Airflow's menu."""

    name = "hub_ops"
    fastapi_apps = [{"app": create_app(), "url_prefix": URL_PREFIX, "name": "ERP sales hub"}]
    external_views = [
        {
            "name": "Sales hub",
            "href": f"{URL_PREFIX}/",
            "destination": "nav",
            "category": "browse",
            "url_route": "hub",
        }
    ]
