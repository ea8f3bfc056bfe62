"""Message structure checks: which structure a message type has, segment order and repeats."""

from __future__ import annotations

import threading
from typing import Any

from connectors.edi.directory import STRUCTURES
from connectors.edi.directory_model import Level, MessageStructure
from connectors.edi.errors import Issue, SyntaxCode, echo, issue_at

_BY_TYPE: dict[str, MessageStructure | None] = {}


def structure_for(message_type: str) -> MessageStructure | None:
    """The structure for a UNH type string such as ``ORDERS:D:96A:UN:EAN008``."""
    try:
        return _BY_TYPE[message_type]
    except KeyError:
        found = STRUCTURES.get(":".join(message_type.split(":")[:3]))
        if len(_BY_TYPE) < 1000:
            _BY_TYPE[message_type] = found
        return found


class StructureWalker:
    """Checks segment order, mandatory segments and repeat limits against a ``Level`` tree.

    Fed one segment tag at a time (message positions, UNH = 1); unknown or misplaced
    segments are reported (15) and skipped without disturbing the state.
    """

    __slots__ = ("frames", "issues", "name")

    def __init__(self, root: Level, name: str) -> None:
        # frame: [level, current entry index (-1 = none yet), repeat count of that entry]
        self.frames: list[list[Any]] = [[root, -1, 0]]
        self.issues: list[Issue] = []
        self.name = name

    def feed(self, tag: str, position: int) -> None:
        frames = self.frames
        depth = len(frames) - 1
        while depth >= 0:
            frame = frames[depth]
            level, pos, count = frame
            candidates = level.index.get(tag)
            if candidates is not None:
                target = -1
                for idx in candidates:
                    if idx == pos:
                        if count < level.entries[idx].max:
                            target = idx
                            break
                    elif idx > pos:
                        target = idx
                        break
                if target == -1 and pos in candidates:
                    target = pos  # over the limit: report, keep going
                if target != -1:
                    while len(frames) - 1 > depth:
                        self._close(frames.pop(), position)
                    self._move(frame, target, position)
                    return
            depth -= 1
        self.issues.append(
            issue_at(
                SyntaxCode.NOT_SUPPORTED_HERE,
                position,
                tag,
                f"segment {echo(tag, 12)} is not allowed at this position in {self.name[:70]}: "
                f"check the segment order (or a wrong tag) against the message structure",
            )
        )

    def _move(self, frame: list[Any], target: int, position: int) -> None:
        level, pos, count = frame
        entry = level.entries[target]
        if target == pos:
            count += 1
            if count > entry.max:
                code = (
                    SyntaxCode.TOO_MANY_GROUP_REPETITIONS
                    if entry.children
                    else SyntaxCode.TOO_MANY_REPETITIONS
                )
                what = "segment group started by" if entry.children else "segment"
                self.issues.append(
                    issue_at(
                        code,
                        position,
                        entry.tag,
                        f"{what} {entry.tag} repeats {count} times here, {self.name} "
                        f"allows at most {entry.max}",
                    )
                )
        else:
            if level.required or (pos >= 0 and count < level.entries[pos].min):
                self._missing(level, pos, count, target, position)
            count = 1
        frame[1] = target
        frame[2] = count
        child = level.children[target]
        if child is not None:
            self.frames.append([child, -1, 0])

    def _missing(self, level: Level, pos: int, count: int, upto: int, position: int) -> None:
        if pos >= 0 and count < level.entries[pos].min:
            e = level.entries[pos]
            self._report_missing(e.tag, position, f"at least {e.min} {e.tag} needed")
        for i in level.required:
            if pos < i < upto:
                e = level.entries[i]
                self._report_missing(e.tag, position, f"mandatory {e.tag} missing")

    def _report_missing(self, tag: str, position: int, text: str) -> None:
        self.issues.append(
            issue_at(
                SyntaxCode.MISSING,
                position,
                tag,
                f"{text} before segment {position} in {self.name}: add it in its place",
            )
        )

    def _close(self, frame: list[Any], position: int) -> None:
        level, pos, count = frame
        self._missing(level, pos, count, len(level.entries), position)

    def finish(self, position: int) -> list[Issue]:
        """Close every open level at the UNT (message ``position``)."""
        while self.frames:
            self._close(self.frames.pop(), position)
        return self.issues


class StructureAutomaton:
    """``StructureWalker`` transitions memoised as a table: state number x tag -> state.

    A state is a snapshot of the walker's frames. Only transitions the walker makes without
    a finding are kept (-1 marks one with a finding), so a message that walks the table to a
    state that closes cleanly would get no structure finding from the walker either; any
    other message goes through the walker itself, which names what is wrong. The table is
    bounded (``MAX_STATES``; beyond it, -2: not memoised, ask the walker).
    """

    MAX_STATES = 20_000

    def __init__(self, root: Level) -> None:
        self.root = root
        start: tuple[tuple[Level, int, int], ...] = ((root, -1, 0),)
        self.frames: list[tuple[tuple[Level, int, int], ...]] = [start]
        self.ids: dict[tuple[tuple[int, int, int], ...], int] = {self._key(start): 0}
        self.trans: list[dict[str, int]] = [{}]
        self.closes_cleanly: list[bool | None] = [None]
        self._lock = threading.Lock()

    @staticmethod
    def _key(frames: tuple[tuple[Level, int, int], ...]) -> tuple[tuple[int, int, int], ...]:
        return tuple((id(level), pos, count) for level, pos, count in frames)

    def _walker(self, state: int) -> StructureWalker:
        walker = StructureWalker(self.root, "")
        walker.frames = [list(frame) for frame in self.frames[state]]
        return walker

    def step(self, state: int, tag: str) -> int:
        """The state after ``tag``: -1 when the walker reports something, -2 when unknown."""
        with self._lock:
            walker = self._walker(state)
            walker.feed(tag, 0)
            if walker.issues:
                nxt = -1
            else:
                frames = tuple((f[0], f[1], f[2]) for f in walker.frames)
                key = self._key(frames)
                found = self.ids.get(key)
                if found is None:
                    if len(self.frames) >= self.MAX_STATES:
                        return -2
                    found = len(self.frames)
                    self.frames.append(frames)
                    self.ids[key] = found
                    self.trans.append({})
                    self.closes_cleanly.append(None)
                nxt = found
            self.trans[state][tag] = nxt
            return nxt

    def accepts(self, state: int) -> bool:
        """Whether closing the message (UNT) in ``state`` gives no finding."""
        ok = self.closes_cleanly[state]
        if ok is None:
            with self._lock:
                ok = not self._walker(state).finish(0)
                self.closes_cleanly[state] = ok
        return ok


_AUTOMATA: dict[str, StructureAutomaton] = {}


def automaton_for(structure: MessageStructure) -> StructureAutomaton:
    found = _AUTOMATA.get(structure.key)
    if found is None:
        found = _AUTOMATA.setdefault(structure.key, StructureAutomaton(structure.level))
    return found
