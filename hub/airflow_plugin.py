"""Airflow 3 plugin: the hub's ops endpoints (/hub/health, /hub/metrics, /hub/) behind Airflow auth.

Mounted by Airflow's api-server through ``fastapi_apps``; Airflow finds it through the hub
package's ``airflow.plugins`` entry point (pyproject.toml), so any install of the hub (the
production image, the embedded default, `make airflow`) carries it, with no plugins folder
to copy. Every route needs a user authenticated by Airflow's
auth manager (the JWT in ``Authorization: Bearer`` or the UI's ``_token`` cookie): JSON and
text routes answer 401 without one, the HTML page redirects to Airflow's login.
``/hub/metrics`` also accepts a static scrape token (the password of the ``hub_metrics``
connection) for Prometheus. Replaying or discarding a dead letter from the page needs a user
the auth manager lets edit DAGs, a same-origin form post, and is audited with the user's
name, as on the CLI. Everything heavy is imported when a request needs it, so loading the
plugin in a scheduler or worker costs nothing.
"""

from __future__ import annotations

import hmac
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from airflow.plugins_manager import AirflowPlugin
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse

if TYPE_CHECKING:
    from hub.bootstrap import Hub

URL_PREFIX = "/hub"
PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
METRICS_CONN_ID = "hub_metrics"  # its password: the scrape token for /hub/metrics


async def require_user(request: Request) -> Any:
    """The caller as Airflow's auth manager sees it; 401/403 when there is none."""
    from airflow.api_fastapi.core_api.security import bearer_scheme, get_user

    credentials = await bearer_scheme(request)
    return await get_user(request, None, credentials)


def scrape_token() -> str | None:
    """The static bearer token a Prometheus scraper may use, from the ``hub_metrics``
    connection (``AIRFLOW_CONN_HUB_METRICS``); None when it is not configured."""
    from hub import settings
    from schemas.errors import HubError

    try:
        return settings.connection(METRICS_CONN_ID).password or None
    except HubError:
        return None


async def require_scraper_or_user(request: Request) -> Any:
    """The scrape token (compared in constant time), else an Airflow user."""
    token = scrape_token()
    sent = request.headers.get("authorization", "")
    given = sent[7:].strip().encode() if sent.startswith("Bearer ") else b""
    if token and given and hmac.compare_digest(given, token.encode()):
        return "prometheus"
    return await require_user(request)


def may_act(user: Any) -> bool:
    """Whether the auth manager lets ``user`` edit DAGs (SimpleAuthManager: user and up)."""
    try:
        from airflow.api_fastapi.app import get_auth_manager

        return bool(get_auth_manager().is_authorized_dag(method="PUT", user=user))
    except Exception:  # noqa: BLE001 - an auth manager that cannot say: no actions
        return False


def same_origin(request: Request) -> bool:
    """A form post from a page of this server (the cookie alone must not be enough)."""
    origin = request.headers.get("origin") or request.headers.get("referer") or ""
    return bool(origin) and urlsplit(origin).netloc == request.headers.get("host")


def config_stamp() -> tuple[tuple[str, int, int], ...]:
    """(file, mtime, size) of every partner profile: changes when a profile is edited,
    added or removed."""
    from hub import settings

    folder = settings.config_dir() / "partners"
    found = []
    for path in sorted(folder.glob("*.y*ml")):
        try:
            stat = path.stat()
        except FileNotFoundError:
            continue
        found.append((path.name, stat.st_mtime_ns, stat.st_size))
    return tuple(found)


class _HubHolder:
    """One hub (ledger engine) per app, built on first request from the environment, and
    built again when a partner profile changed: the api-server runs for weeks and must show
    the profiles as they are now (each profile is validated on its own)."""

    def __init__(self, factory: Callable[[], Hub] | None) -> None:
        self._factory = factory
        self._hub: Hub | None = None
        self._stamp: tuple[tuple[str, int, int], ...] = ()
        self._lock = threading.Lock()

    def get(self) -> Hub:
        with self._lock:
            stamp = config_stamp()
            if self._hub is not None and stamp != self._stamp:
                self._hub.close()
                self._hub = None
            if self._hub is None:
                if self._factory is not None:
                    self._hub = self._factory()
                else:
                    from hub.bootstrap import Hub

                    self._hub = Hub.from_env()
                self._stamp = stamp
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

    @app.get("/metrics", dependencies=[Depends(require_scraper_or_user)])
    def metrics() -> PlainTextResponse:
        """Prometheus text exposition of the hub's metrics."""
        from hub.ops.metrics import render

        return PlainTextResponse(render(holder.get()), media_type=PROMETHEUS_CONTENT_TYPE)

    @app.get("/", response_class=HTMLResponse)
    async def page(request: Request) -> Any:
        """Flows, open dead letters and 24 h charts; unauthenticated browsers go to login."""
        try:
            user = await require_user(request)
        except HTTPException:
            return RedirectResponse(_login_url(request), status_code=303)
        from starlette.concurrency import run_in_threadpool

        notice = (request.query_params.get("notice") or "")[:300] or None
        html = await run_in_threadpool(_render, holder.get(), may_act(user), notice)
        return HTMLResponse(html)

    @app.post("/dead-letters/{letter_id}/{action}")
    async def act(letter_id: int, action: str, request: Request) -> Any:
        """Replay or discard one dead letter (form post from the page), audited by name."""
        user = await require_user(request)
        if action not in ("replay", "discard"):
            raise HTTPException(404, f"no action {action!r}: replay or discard")
        if not same_origin(request):
            raise HTTPException(403, "post the form from the hub's page")
        if not may_act(user):
            raise HTTPException(403, "your Airflow role may not change dead letters")
        from starlette.concurrency import run_in_threadpool

        form = await request.form()
        by = f"{user.get_name()} (ops page)"
        notice = await run_in_threadpool(_act, holder.get(), letter_id, action, by, dict(form))
        root = request.scope.get("root_path", "")
        return RedirectResponse(f"{root}/?notice={quote(notice)}", status_code=303)

    return app


def _login_url(request: Request) -> str:
    try:
        from airflow.api_fastapi.app import get_auth_manager

        return get_auth_manager().get_url_login(next_url=str(request.url))
    except Exception:  # noqa: BLE001 - any auth manager without a login page: Airflow's root
        return "/"


def _act(hub: Hub, letter_id: int, action: str, by: str, form: dict[str, Any]) -> str:
    """Run the action as the CLI does; the notice the page shows afterwards."""
    from hub.ops.deadletters import discard
    from hub.ops.replay import replay
    from schemas.errors import HubError

    try:
        if action == "replay":
            row = replay(hub, letter_id, by=by, confirm_absent=form.get("confirm_absent") == "1")
        else:
            row = discard(hub.ledger, letter_id, reason=str(form.get("reason") or ""), by=by)
    except HubError as exc:
        return f"dead letter {letter_id}: {action} refused: {exc}"
    detail = row.get("detail") or row.get("reason") or ""
    return f"dead letter {letter_id}: {row.get('outcome')} by {by}" + (
        f": {detail}" if detail else ""
    )


def _render(hub: Hub, can_act: bool = False, notice: str | None = None) -> str:
    from hub.ledger import utcnow
    from hub.web.page import render_page
    from hub.web.series import flow_series

    now = utcnow()
    status = status_of(hub)
    flows = sorted({str(r["flow"]) for r in status.get("flows") or []})
    return render_page(
        status,
        hub.ledger.dead_letters(state="open", limit=200),
        flow_series(hub.ledger, now, flows),
        generated_at=now,
        can_act=can_act,
        notice=notice,
        acks=_acks(hub, now),
    )


def _acks(hub: Hub, now: Any) -> list[dict[str, Any]]:
    """Outbound documents with their acknowledgement state (``hub edi acks``)."""
    from hub.ops.acks import listing

    return listing(hub.ledger, now=now)


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
