"""Directory model: structure nodes and levels, the structure text parser, element specs."""

from __future__ import annotations

from dataclasses import dataclass, field

# ---------------------------------------------------------------------------------------
# message structures (the body between UNH and UNT)


@dataclass(frozen=True, slots=True)
class Node:
    """A segment position in a structure; ``children`` make it a segment group trigger."""

    tag: str
    min: int
    max: int
    children: tuple[Node, ...] = ()


@dataclass(slots=True)
class Level:
    """One level of a structure compiled for the walker: entries plus a tag index."""

    entries: tuple[Node, ...]
    children: tuple[Level | None, ...] = ()
    index: dict[str, tuple[int, ...]] = field(default_factory=dict)
    required: tuple[int, ...] = ()  # positions of entries with min > 0

    @classmethod
    def compile(cls, nodes: tuple[Node, ...]) -> Level:
        index: dict[str, list[int]] = {}
        for i, node in enumerate(nodes):
            index.setdefault(node.tag, []).append(i)
        return cls(
            nodes,
            tuple(cls.compile(n.children) if n.children else None for n in nodes),
            {tag: tuple(positions) for tag, positions in index.items()},
            tuple(i for i, n in enumerate(nodes) if n.min > 0),
        )


def parse_structure(text: str) -> tuple[Node, ...]:
    """Parse the indented ``TAG MIN MAX`` text into nodes (2 spaces per level)."""
    rows: list[tuple[int, str, int, int]] = []
    for line_no, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip(" "))
        parts = line.split()
        if indent % 2 or len(parts) != 3:
            raise ValueError(f"structure line {line_no}: expected 'TAG MIN MAX', got {line!r}")
        rows.append((indent // 2, parts[0], int(parts[1]), int(parts[2])))

    def build(start: int, depth: int) -> tuple[tuple[Node, ...], int]:
        nodes: list[Node] = []
        i = start
        while i < len(rows) and rows[i][0] == depth:
            _, tag, lo, hi = rows[i]
            children: tuple[Node, ...] = ()
            if i + 1 < len(rows) and rows[i + 1][0] > depth:
                children, i = build(i + 1, depth + 1)
            else:
                i += 1
            nodes.append(Node(tag, lo, hi, children))
        return tuple(nodes), i

    nodes, end = build(0, 0)
    if end != len(rows):
        raise ValueError(f"structure: bad indentation near line {end + 1}")
    return nodes


@dataclass(frozen=True, slots=True)
class MessageStructure:
    """A known message: type key, body structure, and the EANCOM rule set applied, if any."""

    key: str
    level: Level
    description: str


def structure(key: str, text: str, description: str) -> MessageStructure:
    """A message structure from its indented ``TAG MIN MAX`` text."""
    return MessageStructure(key, Level.compile(parse_structure(text)), description)


# ---------------------------------------------------------------------------------------
# segment layouts (data element formats)


@dataclass(frozen=True, slots=True)
class Simple:
    """A simple data element: id, representation (``an..35``, ``n..15``, ``a3``), mandatory."""

    id: str
    repr: str
    mandatory: bool = False


@dataclass(frozen=True, slots=True)
class Composite:
    """A composite data element and its components."""

    id: str
    components: tuple[Simple, ...]
    mandatory: bool = False


ElementSpec = Simple | Composite


def simple(spec: str) -> Simple:
    """``"1004 an..35"`` or ``"1004 an..35 M"``."""
    parts = spec.split()
    return Simple(parts[0], parts[1], len(parts) > 2 and parts[2] == "M")


def composite(cid: str, *components: str, m: bool = False) -> Composite:
    """A composite from its id and ``simple`` specs of its components (``m``: mandatory)."""
    return Composite(cid, tuple(simple(c) for c in components), m)
