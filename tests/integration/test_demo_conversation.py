"""The demo's step 7 on the sandbox Tryton: the price-list order carries a line amount
allowance (ALC+A DI, MOA 204) besides its 10%, and the INVOIC of its posted invoice states
both again on that line (issue 14.3)."""

from __future__ import annotations

import io
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from hub import settings
from sandbox.demo_partner import conversation

pytestmark = pytest.mark.integration


def test_the_price_list_orders_invoic_states_its_line_allowances(
    erp_server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HUB_HOME", str(tmp_path))
    monkeypatch.delenv("HUB_DATABASE_URL", raising=False)
    monkeypatch.setenv(
        "AIRFLOW_CONN_HUB_ERP", settings.connection_json(**erp_server.hub_connection())
    )
    shown = conversation(Console(file=io.StringIO(), width=200))
    line = shown["invoic"]
    assert [s.split(":")[0].split("+")[:2] for s in line] == [
        ["MOA", "203"], ["PRI", "AAA"], ["PRI", "AAB"],
        ["ALC", "A"], ["PCD", "1"], ["MOA", "204"], ["ALC", "A"], ["MOA", "204"],
    ]  # fmt: skip
    assert line[3:] == ["ALC+A+++1+TD", "PCD+1:10", line[5], "ALC+A+++1+DI:::Aktion",
                        "MOA+204:5.00"]  # fmt: skip
    net, gross = (Decimal(s.split(":")[1]) for s in line[1:3])
    moa = [Decimal(s.split(":")[1]) for s in (line[0], line[5])]
    # 100 x gross less 10% less 5.00 is the line amount the ERP invoiced, to the cent
    assert moa[0] == 100 * net == 100 * gross - moa[1] - 5
    assert moa[1] == (10 * gross).quantize(Decimal("0.01"))
