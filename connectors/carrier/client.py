"""zeep plumbing for the carrier: hardened settings, WSDLs parsed once, per-thread clients.

Parsing a DHL WSDL costs tens to hundreds of milliseconds (the Express one is 200 kB of XSD),
so the parsed ``zeep.wsdl.Document`` is cached per location for the whole process and shared
by every client; what is per thread is the cheap part: the requests session, the transport
(with ``operation_timeout``) and the ``zeep.Client`` wrapper around the shared document.
"""

from __future__ import annotations

import logging
import threading
import time
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import requests
from zeep import Client, Settings
from zeep.helpers import serialize_object
from zeep.proxy import ServiceProxy
from zeep.transports import Transport
from zeep.wsdl import Document

from connectors.carrier.errors import translate
from connectors.http import RetryPolicy, new_session

log = logging.getLogger(__name__)

_documents: dict[str, Document] = {}
_parse_seconds: dict[str, float] = {}
_parse_count: Counter[str] = Counter()
_lock = threading.Lock()


def hardened_settings(*, huge_tree: bool = False) -> Settings:
    """zeep settings for untrusted answers: no DTD, no entities, no external fetches."""
    return Settings(
        strict=True,
        xml_huge_tree=huge_tree,
        forbid_dtd=True,
        forbid_entities=True,
        forbid_external=True,
    )


class HubTransport(Transport):
    """zeep transport that never logs bodies (they carry credentials) and keeps the last response.

    ``operation_timeout`` bounds every call (zeep's ``timeout`` only covers WSDL loading);
    the last response is kept so that error translation can read headers like Retry-After.
    """

    def __init__(self, session: requests.Session, *, operation_timeout: float, load_timeout: float):
        super().__init__(session=session, timeout=load_timeout, operation_timeout=operation_timeout)
        self.last_response: requests.Response | None = None

    def post(
        self, address: str, message: bytes | str, headers: dict[str, str]
    ) -> requests.Response:
        self.last_response = None
        response = self.session.post(
            address, data=message, headers=headers, timeout=self.operation_timeout
        )
        self.last_response = response
        log.debug(
            "carrier POST %s -> %s (%d bytes)", address, response.status_code, len(response.content)
        )
        return response


def load_document(location: str, *, load_timeout: float = 10.0) -> Document:
    """The parsed WSDL at ``location`` (path or URL), parsed at most once per process."""
    document = _documents.get(location)
    if document is not None:
        return document
    with _lock:
        document = _documents.get(location)
        if document is None:
            started = time.perf_counter()
            loader = Transport(session=new_session(), timeout=load_timeout)
            # the configured WSDL is trusted to import its own XSDs (over HTTP if served so);
            # answers are parsed with hardened_settings(), external references forbidden
            wsdl_settings = Settings(forbid_dtd=True, forbid_entities=True, forbid_external=False)
            # zeep annotates ``transport`` as type[Transport] but uses (and needs) an instance
            document = Document(location, loader, settings=wsdl_settings)  # type: ignore[arg-type]
            _parse_seconds[location] = time.perf_counter() - started
            _parse_count[location] += 1
            _documents[location] = document
            log.info("parsed WSDL %s in %.3fs", location, _parse_seconds[location])
    return document


def wsdl_parse_count(location: str | None = None) -> int:
    """How many times a WSDL was parsed in this process (all locations when None)."""
    with _lock:
        return _parse_count[location] if location else sum(_parse_count.values())


def wsdl_parse_seconds(location: str) -> float | None:
    """How long the one parse of ``location`` took, if it happened."""
    return _parse_seconds.get(location)


def clear_wsdl_cache() -> None:
    """Forget parsed WSDLs (benchmarks measure the parse cost with this; counts are kept)."""
    with _lock:
        _documents.clear()
        _parse_seconds.clear()


@dataclass
class BoundClient:
    """One thread's zeep client and the service proxy bound to the configured endpoint."""

    client: Client
    service: ServiceProxy
    transport: HubTransport


def bind_client(
    location: str,
    endpoint: str | None,
    *,
    operation_timeout: float,
    load_timeout: float = 10.0,
    wsse: object | None = None,
    session_factory: Callable[[], requests.Session] = new_session,
) -> BoundClient:
    """A client on the cached document with its own session; ``endpoint`` beats soap:address."""
    document = load_document(location, load_timeout=load_timeout)
    transport = HubTransport(
        session_factory(), operation_timeout=operation_timeout, load_timeout=load_timeout
    )
    client = Client(document, transport=transport, wsse=wsse, settings=hardened_settings())
    if endpoint:
        service = next(iter(document.services.values()))
        port = next(iter(service.ports.values()))
        proxy = client.create_service(str(port.binding.name), endpoint)
    else:
        proxy = client.service
    return BoundClient(client=client, service=proxy, transport=transport)


class PerThreadClients:
    """Lazily builds one BoundClient per thread (one requests session per task or thread)."""

    def __init__(self, factory: Callable[[], BoundClient]):
        self._factory = factory
        self._local = threading.local()

    def get(self) -> BoundClient:
        bound = getattr(self._local, "bound", None)
        if bound is None:
            bound = self._factory()
            self._local.bound = bound
        return bound

    def close(self) -> None:
        bound = getattr(self._local, "bound", None)
        if bound is not None:
            bound.transport.session.close()
            self._local.bound = None


@dataclass(frozen=True, kw_only=True)
class SoapSettings:
    """What every carrier SOAP connector needs besides its endpoints and credentials."""

    operation_timeout: float = 30.0
    load_timeout: float = 10.0
    connection_id: str = "carrier"


S = TypeVar("S", bound=SoapSettings)
# The default of both calls (reads and creates) of every carrier SOAP connector.
SOAP_POLICY = RetryPolicy(
    attempts=3, base_delay=0.2, max_delay=2.0, max_retry_after=5.0, total_timeout=60.0
)


class SoapConnector(ABC, Generic[S]):
    """Base of the carrier SOAP connectors: one call path, errors translated at the boundary.

    Thread-safe: each thread gets its own session and zeep client on the shared WSDL.
    """

    system: str = "carrier"
    read_default: RetryPolicy = SOAP_POLICY
    create_default: RetryPolicy = SOAP_POLICY

    def __init_subclass__(cls, system: str = "carrier", **kwargs: Any) -> None:
        """A connector names its system (in errors and metrics) in its class statement."""
        super().__init_subclass__(**kwargs)
        cls.system = system

    def __init__(
        self,
        settings: S,
        *,
        session_factory: Callable[[], requests.Session] = new_session,
        read_policy: RetryPolicy | None = None,
        create_policy: RetryPolicy | None = None,
    ) -> None:
        self.settings: S = settings
        self.read_policy = read_policy or self.read_default
        self.create_policy = create_policy or self.create_default
        self._bind(settings, session_factory)

    @abstractmethod
    def _bind(self, settings: S, session_factory: Callable[[], requests.Session]) -> None:
        """Set up this connector's per-thread clients (``self.clients(...)``)."""

    def clients(
        self,
        wsdl: str,
        endpoint: str | None,
        *,
        session_factory: Callable[[], requests.Session],
        auth: tuple[str, str] | None = None,
        wsse: Callable[[], object] | None = None,
    ) -> PerThreadClients:
        """Per-thread clients on the shared parsed ``wsdl``, bound to ``endpoint``."""
        timeouts = self.settings

        def build() -> BoundClient:
            session = session_factory()
            if auth is not None:
                session.auth = auth
            return bind_client(
                wsdl,
                endpoint,
                operation_timeout=timeouts.operation_timeout,
                load_timeout=timeouts.load_timeout,
                wsse=wsse() if wsse is not None else None,
                session_factory=lambda: session,
            )

        return PerThreadClients(build)

    @property
    def credentials_fix(self) -> str:
        """What a person does when the carrier refuses our credentials."""
        return "renew the credentials and update the carrier connection"

    def call(
        self,
        clients: PerThreadClients,
        operation: str,
        url: str,
        kwargs: dict[str, Any],
        *,
        creates: bool,
        reference: str | None,
    ) -> dict[str, Any]:
        """Call ``operation`` on this thread's client; the serialized answer or a hub error."""
        bound = clients.get()
        try:
            result = getattr(bound.service, operation)(**kwargs)
        except Exception as exc:  # translated at the boundary, re-raised as hub errors
            raise translate(
                exc,
                system=self.system,
                operation=operation,
                url=url,
                creates=creates,
                reference=reference,
                response=bound.transport.last_response,
                credentials_fix=self.credentials_fix,
            ) from exc
        return serialize_object(result, dict) or {}
