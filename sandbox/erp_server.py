"""Entry point of the sandbox ERP's trytond process: ``python -m sandbox.erp_server -c CONF -d DB``.

Same as the ``trytond`` command, except that email deliverability is not checked over DNS
(the sandbox machines have none); see ``sandbox.erp_seed.offline_email_validation``.
"""

from __future__ import annotations

import sys

from sandbox.erp_seed import offline_email_validation


def main() -> None:
    offline_email_validation()
    from trytond.cli import main as trytond_main

    sys.argv[0] = "trytond"
    trytond_main()


if __name__ == "__main__":
    main()
