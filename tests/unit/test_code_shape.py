"""The code's shape, checked on every run: module and function sizes, no import cycle in hub/,
the ledger owning its tables, keys built by transforms/keys.py only (issue "Flow kit")."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CODE = ("hub", "connectors", "transforms", "schemas", "sandbox", "dags", "chaos")
MAX_MODULE = 600
MAX_FUNCTION = 80
# data tables (message directories), not code: excepted from the module size
DATA_MODULES = {"connectors/edi/directory.py", "connectors/edi/directory_data.py"}


def _modules(*tops: str) -> list[Path]:
    return sorted(
        p for top in tops for p in (ROOT / top).rglob("*.py") if "migrations" not in p.parts
    )


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def test_no_module_over_600_lines() -> None:
    big = {
        _rel(p): n
        for p in _modules(*CODE)
        if (n := len(p.read_text().splitlines())) > MAX_MODULE and _rel(p) not in DATA_MODULES
    }
    assert big == {}, f"modules over {MAX_MODULE} lines: split them by role"


def test_no_function_over_80_lines() -> None:
    long: dict[str, int] = {}
    for path in _modules(*CODE):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                n = (node.end_lineno or node.lineno) - node.lineno + 1
                if n > MAX_FUNCTION:
                    long[f"{_rel(path)}:{node.lineno} {node.name}"] = n
    assert long == {}, f"functions over {MAX_FUNCTION} lines"


def _hub_imports(path: Path) -> set[str]:
    """Modules of hub/ imported at module level (imports inside functions are lazy)."""
    found: set[str] = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("hub"):
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("hub"))
    return found


def test_no_import_cycle_inside_hub() -> None:
    names = {
        ".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): p
        for p in _modules("hub")
    }
    graph = {
        mod: {dep for dep in _hub_imports(path) if dep in names and dep != mod}
        for mod, path in names.items()
    }
    for mod, deps in graph.items():  # a package imports its own submodules by design
        graph[mod] = {d for d in deps if not d.startswith(mod + ".")}
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                cycles.append(stack[stack.index(dep) :] + [dep])
            elif dep not in state:
                visit(dep, [*stack, dep])
        state[node] = 2

    for mod in sorted(graph):
        if mod not in state:
            visit(mod, [mod])
    assert cycles == [], "import cycles inside hub/ (module-level imports)"


TABLES = re.compile(r"hub\.ledger(\.tables| import tables)|hub\.ops\.tables")
ENGINE = re.compile(r"\bledger\.engine\b")


@pytest.mark.parametrize("pattern", [TABLES, ENGINE], ids=["tables", "engine"])
def test_the_ledger_owns_its_tables(pattern: re.Pattern[str]) -> None:
    offenders = [
        _rel(p)
        for p in _modules(*CODE, "tests", "bench")
        if not _rel(p).startswith("hub/ledger/")
        and p.name != "test_code_shape.py"
        and pattern.search(p.read_text())
    ]
    assert offenders == [], "only hub/ledger may touch the ledger's tables and engine"


KEY_TEXT = re.compile(r"""f["'](erp\.sale|carrier\.shipment|carrier\.tracking|edi\.out|crm\.pu)""")


def test_idempotency_keys_are_built_by_transforms_keys_only() -> None:
    offenders = [
        _rel(p)
        for p in _modules("hub", "connectors", "transforms")
        if _rel(p) != "transforms/keys.py" and KEY_TEXT.search(p.read_text())
    ]
    assert offenders == [], "formatted key strings: use the builders in transforms/keys.py"


def test_the_hub_never_imports_the_sandbox() -> None:
    offenders = [
        _rel(p)
        for p in _modules("hub", "connectors", "transforms", "schemas", "dags")
        if re.search(r"^\s*(from|import) sandbox\b", p.read_text(), re.M)
    ]
    assert offenders == [], "the sandbox plugs into the hub (entry points), never the reverse"
