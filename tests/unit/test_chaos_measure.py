"""The chaos suite's measure of a crash's cost: kill to the killed flow's next successful run."""

from __future__ import annotations

from chaos.run import resumed_after_kills
from chaos.runner import FlowRun, Kill


def _run(flow: str, started: float, ended: float, rc: int | None, killed: bool = False) -> FlowRun:
    return FlowRun(flow, 1, 0, "chaos", started, ended, returncode=rc, killed=killed)


def test_resumed_is_the_end_of_the_first_successful_run_after_each_kill() -> None:
    history = {
        "edi_inbound": [
            _run("edi_inbound", 0.0, 5.0, -9, killed=True),
            _run("edi_inbound", 6.0, 9.0, 1),  # a failed run does not count
            _run("edi_inbound", 10.0, 14.0, 0),
            _run("edi_inbound", 20.0, 22.0, -9, killed=True),
            _run("edi_inbound", 23.0, 30.0, 0),
        ],
        "logistics": [_run("logistics", 0.0, 3.0, -9, killed=True)],
    }
    kills = [
        Kill(0, "edi_inbound", 1.0, hit=True, at=5.0),
        Kill(1, "edi_inbound", 1.0, hit=True, at=22.0),
        Kill(0, "logistics", 1.0, hit=True, at=3.0),
        Kill(2, "crm_push", 1.0, hit=False),  # missed: the run had ended
    ]
    assert resumed_after_kills(kills, history) == {"edi_inbound": 9.0, "logistics": None}
