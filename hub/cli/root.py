"""The typer application behind `hub`: the root group whose commands load lazily from
``hub.cli.COMMANDS`` and the ``hub.cli`` entry points (see ``hub.cli``).

Imported only when a command goes through typer: ``hub.cli.fastpath`` answers the plain
`hub edi validate` without it.
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from importlib import import_module
from typing import Any

import typer
from typer.core import TyperGroup

from hub.cli import COMMANDS, ENTRY_POINT_GROUP, LEGACY_ENTRY_POINT_GROUP


def load_target(target: str) -> Any:
    """The object a ``module:attr`` string names."""
    module, _, attr = target.partition(":")
    return getattr(import_module(module), attr)


def as_click(name: str, obj: Any) -> Any:
    """A click command for a ``typer.Typer`` (always a group, even with one command), a
    ready click command, or a plain function with typer parameters."""
    command: Any
    if isinstance(obj, typer.Typer):
        command = typer.main.get_group(obj)
    elif isinstance(obj, typer.core.TyperCommand | TyperGroup):
        command = obj
    else:
        single = typer.Typer()
        single.command(name=name)(obj)
        command = typer.main.get_command(single)
    command.name = name
    from hub.cli.fastparams import install

    return install(command)


def _importable(target: str) -> bool:
    """Whether the top-level package of ``module:attr`` is installed (the production image
    removes the sandbox: its commands then do not show up)."""
    from importlib.util import find_spec

    return find_spec(target.partition(":")[0].split(".")[0]) is not None


def _doc_line(target: str) -> str:
    """The first line of the docstring of ``module:attr`` (a function), else of the module,
    read from the source without importing it (help must stay fast)."""
    import ast
    from importlib.util import find_spec

    module, _, attr = target.partition(":")
    spec = find_spec(module)
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return f"(plug-in {target})"
    with open(spec.origin, encoding="utf-8") as source:
        tree = ast.parse(source.read())
    doc: str | None = None
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == attr:
            doc = ast.get_docstring(node)
        elif (  # app = typer.Typer(help="..."): the group's own help
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == attr for t in node.targets)
            and isinstance(node.value, ast.Call)
        ):
            helps = [k.value for k in node.value.keywords if k.arg == "help"]
            if helps and isinstance(helps[0], ast.Constant) and isinstance(helps[0].value, str):
                doc = helps[0].value
    return (doc or f"(plug-in {target})").strip().splitlines()[0]


def _entry_points(group: str) -> list[Any]:
    from importlib.metadata import entry_points

    return list(entry_points(group=group))


class LazyCommands(MutableMapping[str, Any]):
    """The root group's commands: names from the table and entry points, each command
    imported on first access. Reading the keys (help, suggestions) imports nothing."""

    def __init__(self, table: dict[str, tuple[str, str]], loaded: dict[str, Any]) -> None:
        self.table = table
        self.loaded = dict(loaded)
        self._plugins: dict[str, str] | None = None

    def plugins(self) -> dict[str, str]:
        """Entry-point commands (name -> module:attr), read once when first needed."""
        if self._plugins is None:
            self._plugins = {
                ep.name: ep.value
                for ep in _entry_points(ENTRY_POINT_GROUP)
                if ep.name not in self.table and _importable(ep.value)
            }
            for ep in _entry_points(LEGACY_ENTRY_POINT_GROUP):
                holder = typer.Typer()
                ep.load()(holder)
                for info in holder.registered_commands:
                    cmd_name = info.name or info.callback.__name__  # type: ignore[union-attr]
                    self.loaded.setdefault(cmd_name, as_click(cmd_name, info.callback))
                for group in holder.registered_groups:
                    if group.name and group.typer_instance:
                        self.loaded.setdefault(
                            group.name, as_click(group.name, group.typer_instance)
                        )
        return self._plugins

    def help_for(self, name: str) -> str:
        if name in self.table:
            return self.table[name][1]
        if name in self.loaded:
            return str(self.loaded[name].get_short_help_str(70))
        return _doc_line(self.plugins()[name])

    def __getitem__(self, name: str) -> Any:
        if name in self.loaded:
            return self.loaded[name]
        target = self.table[name][0] if name in self.table else None
        if target is None:
            target = self.plugins().get(name)
            if target is None:
                if name in self.loaded:  # a legacy plug-in registered it
                    return self.loaded[name]
                raise KeyError(name)
        self.loaded[name] = as_click(name, load_target(target))
        return self.loaded[name]

    def __setitem__(self, name: str, command: Any) -> None:
        self.loaded[name] = command

    def __delitem__(self, name: str) -> None:
        self.loaded.pop(name, None)

    def __iter__(self) -> Iterator[str]:
        # command names in help order: the table, then whatever plug-ins add
        return iter(dict.fromkeys([*self.table, *self.plugins(), *self.loaded]))

    def __len__(self) -> int:
        return len(list(iter(self)))

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        if name in self.table or name in self.loaded:
            return True
        return name in self.plugins() or name in self.loaded


class LazyGroup(TyperGroup):
    """The root `hub` group: commands from ``COMMANDS`` and entry points, loaded on use."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self.commands = LazyCommands(COMMANDS, dict(self.commands))

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        from hub.cli.fastparams import install

        install(self, ctx)  # here, not in __init__: typer adds the completion options later
        return super().parse_args(ctx, args)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        try:
            return self.commands[cmd_name]
        except KeyError:
            return None

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        commands = self.commands
        assert isinstance(commands, LazyCommands)
        rows = [(name, commands.help_for(name)) for name in commands]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


app = typer.Typer(
    cls=LazyGroup,
    help="ERP sales integration hub: EDI partners, CRM and carriers in sync with the ERP.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain click help for the root: rich is imported only when used
)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"hub {version('erp-sales-hub')}")
        except PackageNotFoundError:
            typer.echo("hub (not installed as a package)")
        raise typer.Exit()


@app.callback()
def _root(
    _version_flag: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="print the version and exit"
    ),
) -> None:
    """ERP sales integration hub: EDI partners, CRM and carriers in sync with the ERP."""
