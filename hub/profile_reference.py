"""The partner-profile reference (docs/partner-profile.md), generated from the pydantic
models in ``schemas/config.py``: every field with its type, default and description, so the
document cannot drift from the code (``tests/unit/test_docs.py`` compares them).

    python -m hub.profile_reference            # rewrite docs/partner-profile.md
    python -m hub.profile_reference --check    # exit 1 when the file is out of date
"""

from __future__ import annotations

import argparse
import sys
import types
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from schemas.config import PartnerProfile

TARGET = Path(__file__).resolve().parents[1] / "docs" / "partner-profile.md"

HEAD = """# Partner profile reference

One YAML file per trading partner in `config/partners/` (in production the folder is mounted
into the containers: `HUB_CONFIG_DIR`). Every file is validated on its own when it is read
and read again when it changes; an invalid file stops only its own partner (it is listed by
`hub partners list`, `hub status` and the ops page, and filed as a dead letter). Unknown keys
are errors. `hub partners check ID` checks a profile against the ERP and the channel.

Generated from `schemas/config.py` by `python -m hub.profile_reference`; do not edit by hand.
"""


def _type(annotation: Any) -> str:
    """A reader's name for a field's type."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Literal:
        return "one of " + ", ".join(f"`{a}`" for a in args)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        text = " or ".join(_type(a) for a in inner)
        return f"{text} (optional)" if len(inner) < len(args) else text
    if origin is tuple:
        return f"list of {_type(args[0])}"
    if origin is dict:
        return f"mapping {_type(args[0])} → {_type(args[1])}"
    if origin is typing.Annotated:
        return _type(args[0])
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return f"[{annotation.__name__}](#{annotation.__name__.lower()})"
    name = getattr(annotation, "__name__", None) or str(annotation)
    return {"str": "text", "bool": "true/false", "float": "number", "Decimal": "number"}.get(
        name, name
    )


def _nested(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for a in typing.get_args(annotation) for m in _nested(a)]


def _default(field: Any) -> str:
    if field.is_required():
        return "**required**"
    value = field.default_factory() if field.default_factory is not None else field.default
    if value is None or value is PydanticUndefined:
        return "none"
    if isinstance(value, BaseModel):
        return "(defaults below)"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if value in ((), {}, []):
        return "empty"
    return f"`{value}`"


def _section(model: type[BaseModel]) -> list[str]:
    lines = [f"## {model.__name__}", "", (model.__doc__ or "").strip(), ""]
    lines += ["| key | type | default | meaning |", "|---|---|---|---|"]
    for name, field in model.model_fields.items():
        text = " ".join((field.description or "").split()).replace("|", "\\|")
        lines.append(f"| `{name}` | {_type(field.annotation)} | {_default(field)} | {text} |")
    return [*lines, ""]


def models(root: type[BaseModel] = PartnerProfile) -> list[type[BaseModel]]:
    """``root`` and every model reachable from its fields, in reading order."""
    seen: list[type[BaseModel]] = []
    todo = [root]
    while todo:
        model = todo.pop(0)
        if model in seen:
            continue
        seen.append(model)
        for field in model.model_fields.values():
            todo.extend(_nested(field.annotation))
    return seen


def undocumented(root: type[BaseModel] = PartnerProfile) -> list[str]:
    """``Model.field`` for every field without a description."""
    return [
        f"{m.__name__}.{name}"
        for m in models(root)
        for name, field in m.model_fields.items()
        if not (field.description or "").strip()
    ]


def render() -> str:
    """The whole reference as Markdown."""
    lines = [HEAD]
    for model in models():
        lines += _section(model)
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="write docs/partner-profile.md")
    parser.add_argument("--check", action="store_true", help="exit 1 if the file is stale")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = TARGET.read_text(encoding="utf-8") if TARGET.exists() else ""
        if current != text:
            print(f"{TARGET} is out of date: run python -m hub.profile_reference")
            return 1
        return 0
    TARGET.write_text(text, encoding="utf-8")
    print(f"wrote {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
