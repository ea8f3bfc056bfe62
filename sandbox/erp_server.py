"""Entry point of the sandbox ERP's trytond: ``python -m sandbox.erp_server -c CONF -d DB``.

Same as the ``trytond`` command, except that email deliverability is not checked over DNS
(the sandbox machines have none; see ``sandbox.erp_seed.offline_email_validation``) and
that ``--workers N`` (N > 1) serves with N pre-forked worker processes instead of trytond's
single threaded process, so that concurrent requests really run in parallel (one Python
process holds one GIL). Each worker serves one request at a time and closes the connection
after it (HTTP/1.0), so the kernel hands the next connection to an idle worker. This is how
Tryton is deployed behind a pre-forking WSGI server; trytond's database pools are per
process and its caches are synchronised through the database, so forking after the pool is
loaded is safe. Written here (some 40 lines) rather than adding gunicorn or uWSGI to the
sandbox for it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys

from sandbox.erp_seed import offline_email_validation


def _pop_workers(argv: list[str]) -> int:
    """Take ``--workers N`` out of ``argv`` (trytond's parser does not know it)."""
    if "--workers" not in argv:
        return 1
    at = argv.index("--workers")
    workers = int(argv[at + 1])
    del argv[at : at + 2]
    return workers


def _serve_forked(workers: int) -> None:
    import trytond.commandline as commandline
    import trytond.config as config
    from werkzeug.serving import WSGIRequestHandler, make_server

    options = commandline.get_parser_daemon().parse_args()
    commandline.config_log(options)
    config.update_etc(options.configfile)
    from trytond.pool import Pool
    from trytond.wsgi import app

    Pool.start()
    for name in options.database_names:
        Pool(name).init()
    host, port = config.split_netloc(config.get("web", "listen"))
    listener = socket.create_server((host, port), backlog=128)

    class OneRequestPerConnection(WSGIRequestHandler):
        protocol_version = "HTTP/1.0"

    children: list[int] = []
    for _ in range(workers):
        pid = os.fork()
        if pid == 0:
            _die_with_parent()
            server = make_server(
                host, port, app, request_handler=OneRequestPerConnection, fd=listener.fileno()
            )
            server.serve_forever()
            os._exit(0)
        children.append(pid)

    def stop(signum: int, frame: object) -> None:
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    os.wait()  # a worker died: stop the others too, the caller sees the server gone
    stop(signal.SIGTERM, None)


def _die_with_parent() -> None:
    """Linux: a worker gets SIGTERM when the parent dies, even by SIGKILL (no orphans left
    listening on the port)."""
    try:
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def main() -> None:
    offline_email_validation()
    workers = _pop_workers(sys.argv)
    sys.argv[0] = "trytond"
    if workers > 1:
        _serve_forked(workers)
        return
    from trytond.cli import main as trytond_main

    trytond_main()


if __name__ == "__main__":
    main()
