"""`hub edi validate` without typer: the plain command answered before typer and click load.

Start-up is most of the time of `hub edi validate` on a small or medium file, and typer
with click is a third of that. ``answer`` takes the plain form,
``edi validate [--json] [--strictness LEVEL] [--charset-policy POLICY] PATH...``, when
every path exists and every value is one the command accepts, and runs the same code as
the typer command (``hub.cli.edi_report.validate_files``): same output, same exit codes.
Anything else (``--help``, ``--partner``, an unknown option, a missing path, a bad value,
shell completion) returns None and goes through typer, which gives its usual messages.
"""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import import_module
from pathlib import Path
from typing import TextIO, cast

_VALUED = ("--strictness", "--charset-policy")
# objects made between two collections of the young generation while validating (default
# 700): a file's messages make millions of short-lived objects and few cycles
YOUNG_COLLECTION_EVERY = 50_000


def _parse(args: list[str]) -> tuple[list[Path], bool, dict[str, str]] | None:
    """Paths, --json and the valued options of a plain `edi validate`, or None."""
    paths: list[Path] = []
    as_json = False
    values: dict[str, str] = {}
    rest = iter(args)
    for arg in rest:
        name, eq, value = arg.partition("=")
        if arg == "--json":
            as_json = True
        elif name in _VALUED:
            if not eq:
                found = next(rest, None)
                if found is None:
                    return None
                value = found
            values[name] = value  # the last one counts, as in click
        elif arg.startswith("-"):
            return None  # --help, --partner, "--", an unknown option, "-": typer's
        else:
            paths.append(Path(arg))
    return paths, as_json, values


@contextmanager
def _rare_collections() -> Iterator[None]:
    """No garbage collection while the codec is imported (it makes only long-lived objects),
    then (``_collect_young``) collections of new objects only, every
    ``YOUNG_COLLECTION_EVERY`` allocations: cycles made while validating are still
    collected, the imported modules are never walked again. The thresholds come back after;
    what was frozen stays frozen (unfreezing would make the exit's collection walk it all,
    1.5% of a 10,000-message run, for a process that ends with the command)."""
    enabled, threshold = gc.isenabled(), gc.get_threshold()
    gc.disable()
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        (gc.enable if enabled else gc.disable)()


def _collect_young() -> None:
    """Inside ``_rare_collections``, once the codec is imported: freeze what exists, collect
    new objects rarely."""
    gc.freeze()
    gc.set_threshold(YOUNG_COLLECTION_EVERY, 10, 10)
    gc.enable()


def answer(argv: list[str]) -> int | None:
    """The exit code of a plain `hub edi validate` run here, or None: let typer run it."""
    if argv[:2] != ["edi", "validate"] or any(k.endswith("_COMPLETE") for k in os.environ):
        return None
    parsed = _parse(argv[2:])
    if parsed is None or not parsed[0] or not all(path.exists() for path in parsed[0]):
        return None
    with _rare_collections():
        return _validate(*parsed)


def _validate(paths: list[Path], as_json: bool, values: dict[str, str]) -> int | None:
    """``answer`` once the arguments are known to be plain."""
    from connectors.edi.charsets import (  # noqa: PLC0415
        CHARSET_POLICIES,
        DEFAULT_CHARSET_POLICY,
        CharsetPolicy,
    )
    from connectors.edi.strictness import (  # noqa: PLC0415
        STRICTNESS_LEVELS,
        WITHOUT_PARTNER,
        Strictness,
    )

    # the typer command's defaults (hub/cli/edi.py), so both forms answer alike
    policy = values.get("--charset-policy", DEFAULT_CHARSET_POLICY)
    level = values.get("--strictness", WITHOUT_PARTNER)
    if policy not in CHARSET_POLICIES or level not in STRICTNESS_LEVELS:
        return None
    from hub.cli.edi_report import validate_files  # noqa: PLC0415

    import_module("connectors.edi.validation")  # what validate_files imports: frozen too
    _collect_young()
    try:
        ok = validate_files(
            paths,
            as_json=as_json,
            policy=cast("CharsetPolicy", policy),
            level=cast("Strictness", level),
        )
    except BrokenPipeError:  # `hub edi validate ... | head`: quiet, as typer does
        from typer._click.utils import PacifyFlushWrapper  # noqa: PLC0415

        sys.stdout = cast("TextIO", PacifyFlushWrapper(sys.stdout))
        sys.stderr = cast("TextIO", PacifyFlushWrapper(sys.stderr))
        return 1
    except KeyboardInterrupt:
        return 130  # as typer
    return 0 if ok else 1
