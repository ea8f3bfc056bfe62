"""What every sandbox server shares: a ``with`` block around start/stop, and the HTTP plumbing.

``Running`` gives a class with ``start()``/``stop()`` its ``with`` block. ``LoopbackServer`` is
the threaded HTTP server of the CRM and carrier sandboxes (its ``stopping`` event cuts slow
answers short when it stops); ``run_foreground`` serves until interrupted (``hub sandbox``),
``ServerThread`` serves from a background thread (tests, demo, chaos).
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Generic, Self, TypeVar


class Running:
    """``with thing:`` calls ``thing.start()`` on entering and ``thing.stop()`` on leaving.

    With ``stop_if_start_fails`` a failed start is cleaned up by ``stop()`` before it raises.
    """

    stop_if_start_fails = False

    def start(self) -> object:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            if self.stop_if_start_fails:
                self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class LoopbackServer(ThreadingHTTPServer):
    """A threaded HTTP server whose ``stopping`` event is set when it stops."""

    server_address: tuple[str, int]  # an AF_INET socket bound to a host given as text
    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        stopping: threading.Event,
    ) -> None:
        self.stopping = stopping
        super().__init__(address, handler)

    @property
    def url(self) -> str:
        """``http://host:port`` of the bound socket (the real port when asked for port 0)."""
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def run_foreground(self) -> None:
        """Serve until interrupted (Ctrl-C), then close."""
        try:
            self.serve_forever(poll_interval=0.2)
        except KeyboardInterrupt:
            pass
        finally:
            self.stopping.set()
            self.server_close()


S = TypeVar("S", bound=LoopbackServer)


class ServerThread(Running, Generic[S]):
    """Serves ``self._server`` from a daemon thread between ``start()`` and ``stop()``."""

    def __init__(self, server: S, name: str) -> None:
        self._server = server
        self._thread_name = name
        self._thread: threading.Thread | None = None

    def start(self) -> Self:
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=self._thread_name,
            daemon=True,
        )
        self._thread.start()
        return self

    def run_foreground(self) -> None:
        """Serve from this thread until interrupted (``hub sandbox ...``), then close."""
        self._server.run_foreground()

    def stop(self) -> None:
        self._server.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
