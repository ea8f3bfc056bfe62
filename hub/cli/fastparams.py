"""Plain coercion for the CLI's simple parameters (str, int, float, bool, Path, lists of them).

Written by hand on purpose: typer 0.29 coerces every parameter value through a pydantic
``TypeAdapter``, so any command with a text option imports pydantic (~0.25 s of a 0.3 s
start-up budget for `hub edi validate`). These few types need no schema machinery; any other
annotation (enums, datetimes, ranges, files, custom parsers) keeps typer's own coercion.
Checked by ``tests/unit/test_cli_startup.py`` (values, errors, and no pydantic import).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args, get_origin

from typer._click.core import Context
from typer._click.exceptions import BadParameter
from typer._coercion import RuntimeParam  # private: the one way to replace the coercion
from typer.core import TyperArgument, TyperOption
from typer.models import ParameterInfo


def _to_bool(value: Any) -> bool:
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "y", "on", "t"):
        return True
    if text in ("0", "false", "no", "n", "off", "f", ""):
        return False
    raise ValueError(text)


_SCALARS: dict[Any, Any] = {str: str, int: int, float: float, Path: Path, bool: _to_bool}
# path flags other than ``exists`` change what a value means: leave those to typer
_PATH_FLAGS = ("resolve_path", "allow_dash", "path_type", "writable", "executable")


@dataclass(frozen=True)
class PlainParam(RuntimeParam):
    """Converts one value (or each of a list) with ``convert``; checks ``exists`` for paths."""

    convert: Any = str

    def _one(self, value: Any, param: Any, ctx: Any) -> Any:
        if isinstance(self.convert, type) and isinstance(value, self.convert):
            out = value
        else:
            try:
                out = self.convert(value)
            except (TypeError, ValueError) as exc:
                what = {int: "a whole number", float: "a number", _to_bool: "true or false"}
                raise BadParameter(
                    f"{value!r} is not {what.get(self.convert, 'valid')}.", ctx=ctx, param=param
                ) from exc
        exists = getattr(self.parameter_info, "exists", False)
        if isinstance(out, Path) and exists and not out.exists():
            raise BadParameter(f"Path '{out}' does not exist.", ctx=ctx, param=param)
        return out

    def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
        if isinstance(value, list | tuple):
            return [self._one(v, param, ctx) for v in value]
        return self._one(value, param, ctx)


def _plain(annotation: Any, info: ParameterInfo) -> Any | None:
    """The converter for a simple annotation, or None to leave it to typer."""
    if get_origin(annotation) is list:
        args = get_args(annotation)
        annotation = args[0] if len(args) == 1 else None
    convert = _SCALARS.get(annotation)
    if convert is Path and any(getattr(info, flag, None) for flag in _PATH_FLAGS):
        return None
    if getattr(info, "parser", None) or getattr(info, "min", None) is not None:
        return None
    if getattr(info, "max", None) is not None:
        return None
    return convert


def install(command: Any, ctx: Any = None) -> Any:
    """Give every simple parameter of ``command`` (and of its sub-commands) plain coercion;
    with ``ctx`` also the options made per invocation (``--help``)."""
    subs = getattr(command, "commands", {})
    for sub in subs.values() if isinstance(subs, dict) else ():  # a lazy table stays lazy
        install(sub)
    # get_params makes (and caches) the --help option, which is a typer bool option too
    for param in command.get_params(ctx if ctx is not None else Context(command)):
        if not isinstance(param, TyperArgument | TyperOption):
            continue
        desc = param.type_descriptor
        if desc.file_annotation is not None:
            continue
        convert = _plain(desc.annotation, desc.parameter_info)
        if convert is not None and param._runtime_param is None:
            param._runtime_param = PlainParam(
                parameter_info=desc.parameter_info, annotation=desc.annotation, convert=convert
            )
    return command
