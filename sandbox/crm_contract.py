"""Validates CRM requests and responses against the official HubSpot CRM v3/v4 OpenAPI specs.

The raw specs (``../shared/contracts/hubspot-crm-v3/``) declare error bodies as ``*/*``,
hold ``"example": null`` values and name ``https://api.hubapi.com`` as their only server;
they are normalised in memory (never written back) before openapi-core sees them.
openapi-core is a test dependency: it is imported only when a validator is built.
"""

from __future__ import annotations

import json
import threading
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

SPEC_FILES: dict[str, str] = {
    "companies": "companies.json",
    "contacts": "contacts.json",
    "deals": "deals.json",
    "products": "products.json",
    "line_items": "lineItems.json",
    "quotes": "quotes.json",
    "pipelines": "pipelines.json",
    "associations": "associations-v4.json",
}

# object type ids some official specs use in their paths instead of the plural name
TYPE_IDS = {"0-1": "contacts", "0-2": "companies", "0-3": "deals"}


def default_contracts_dir() -> Path:
    """``<project root>/../shared/contracts/hubspot-crm-v3`` (the project's sibling ``shared/``)."""
    project_root = Path(__file__).resolve().parent.parent
    return project_root.parent / "shared" / "contracts" / "hubspot-crm-v3"


def normalise_spec(raw: Any) -> Any:
    """A copy of ``raw`` that openapi-core accepts: no null examples, JSON error bodies."""
    if isinstance(raw, dict):
        out: dict[str, Any] = {}
        for key, value in raw.items():
            if key == "example" and value is None:
                continue
            if key == "content" and isinstance(value, dict) and "*/*" in value:
                value = {("application/json" if k == "*/*" else k): v for k, v in value.items()}
            out[key] = normalise_spec(value)
        return out
    if isinstance(raw, list):
        return [normalise_spec(item) for item in raw]
    return raw


@dataclass
class _Request:
    """The openapi-core Request protocol over plain values (no framework needed)."""

    host_url: str
    path: str
    method: str
    body: bytes | None
    content_type: str
    headers: Mapping[str, str]
    query: str
    parameters: Any = field(init=False)

    def __post_init__(self) -> None:
        from openapi_core.datatypes import RequestParameters
        from werkzeug.datastructures import Headers, ImmutableMultiDict

        self.parameters = RequestParameters(
            query=ImmutableMultiDict(parse_qsl(self.query, keep_blank_values=True)),
            header=Headers(list(self.headers.items())),
        )


@dataclass
class _Response:
    """The openapi-core Response protocol over plain values."""

    status_code: int
    data: bytes
    content_type: str
    headers: Mapping[str, str]


def _spec_key(path: str) -> str | None:
    parts = path.strip("/").split("/")
    if len(parts) >= 3 and parts[0] == "crm" and parts[1] == "v4":
        return "associations"
    if len(parts) >= 4 and parts[:3] == ["crm", "v3", "pipelines"]:
        return "pipelines"
    if len(parts) >= 4 and parts[:3] == ["crm", "v3", "objects"]:
        kind = TYPE_IDS.get(parts[3], parts[3])
        return kind if kind in SPEC_FILES else None
    return None


class CrmContract:
    """One openapi-core app per official spec; ``check_*`` return a list of violations."""

    def __init__(self, contracts_dir: Path | None = None) -> None:
        from openapi_core import OpenAPI

        folder = contracts_dir or default_contracts_dir()
        if not folder.is_dir():
            raise FileNotFoundError(
                f"HubSpot CRM contracts not found at {folder}: the CRM contract check needs "
                "the sibling shared/contracts/hubspot-crm-v3 folder"
            )
        self._apps: dict[str, Any] = {}
        for key, name in SPEC_FILES.items():
            spec = normalise_spec(json.loads((folder / name).read_text(encoding="utf-8")))
            spec["servers"] = [{"url": "/"}]
            self._apps[key] = OpenAPI.from_dict(spec)
        self._lock = threading.Lock()

    def _app(self, path: str) -> Any:
        key = _spec_key(path)
        return self._apps.get(key) if key else None

    def check_request(
        self,
        method: str,
        path: str,
        query: str,
        headers: Mapping[str, str],
        body: bytes | None,
        host_url: str = "http://127.0.0.1",
    ) -> list[str]:
        """Violations of the request against the official spec (empty list: conforms)."""
        content_type = headers.get("Content-Type", headers.get("content-type", "")).lower()
        req = _Request(host_url, path, method.lower(), body or None, content_type, headers, query)
        where = f"{method.upper()} {path}"
        return self._check(where, "request", path, lambda app: app.unmarshal_request(req))

    def check_response(
        self,
        method: str,
        path: str,
        query: str,
        request_headers: Mapping[str, str],
        request_body: bytes | None,
        status: int,
        response_headers: Mapping[str, str],
        response_body: bytes,
        host_url: str = "http://127.0.0.1",
    ) -> list[str]:
        """Violations of the response (status, content type, body schema) for that request."""
        content_type = request_headers.get("Content-Type", "").lower()
        req = _Request(
            host_url, path, method.lower(), request_body or None, content_type, request_headers,
            query,
        )  # fmt: skip
        resp = _Response(
            status_code=status,
            data=response_body,
            content_type=response_headers.get("Content-Type", "").split(";")[0].lower(),
            headers=response_headers,
        )
        where = f"{method.upper()} {path} -> {status}"
        return self._check(where, "response", path, lambda app: app.unmarshal_response(req, resp))

    def _check(self, where: str, side: str, path: str, call: Callable[[Any], Any]) -> list[str]:
        """``call(app)`` on the spec of ``path`` (under the lock, warnings off); its errors."""
        app = self._app(path)
        if app is None:
            return [f"{where}: no official HubSpot spec covers this path"]
        with self._lock, warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the oauth2 scheme is "unsupported": auth is ours
            result = call(app)
        return [f"{where} {side}: {_describe(err)}" for err in result.errors]


def _describe(err: BaseException) -> str:
    details = [str(err).splitlines()[0][:300]]
    for source in (err, err.__cause__):
        for sub in getattr(source, "schema_errors", None) or []:
            path = "/".join(str(p) for p in getattr(sub, "absolute_path", []))
            details.append(f"{path or '<body>'}: {getattr(sub, 'message', sub)}")
    return "; ".join(details)
