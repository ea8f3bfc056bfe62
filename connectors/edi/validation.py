"""Validate EDIFACT files while streaming: syntax, envelope, message structure, EANCOM rules.

``validate(source)`` returns a ``FileResult`` (verdict per file, interchange, message) and
keeps only the results, never the segments, so memory stays flat for any file size.
``Validator`` is the same engine fed event by event, for callers that also use the
messages (the inbound flow maps each accepted message as it comes). Extra checks (partner
profile, ERP lookups) plug in as ``MessageCheck`` callables.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from itertools import repeat
from pathlib import Path
from typing import Any

from connectors.edi import tokenizer_events as ev
from connectors.edi.charsets import CharsetPolicy
from connectors.edi.directory_model import MessageStructure
from connectors.edi.envelope import check_unb, check_une, check_ung, check_unh_unt, check_unz
from connectors.edi.errors import EdifactError, Issue, SyntaxCode, echo, unb_issue
from connectors.edi.result import FileResult, InterchangeResult, JunkSpan, MessageResult
from connectors.edi.rules import PlainChecker, check_message, structure_for
from connectors.edi.strictness import Strictness
from connectors.edi.tokenizer import EdifactReader, Source
from connectors.edi.tokenizer_segments import Delimiters

MAX_ERRORS_PER_MESSAGE = 100

MessageCheck = Callable[[ev.InterchangeHeader, ev.Message], list[Issue]]
"""An extra check on one message (partner profile, known parties/products): returns findings."""

InterchangeCheck = Callable[[ev.InterchangeHeader], list[Issue]]
"""An extra check on one UNB (partner profile: sender, recipient, syntax): returns findings."""


@dataclass(slots=True)
class _Group:
    ref: str
    position: int
    messages: int = 0


@dataclass(slots=True)
class _Interchange:
    header: ev.InterchangeHeader
    result: InterchangeResult
    messages: int = 0
    groups: int = 0
    group: _Group | None = None
    refs: set[str] = field(default_factory=set)
    plain: PlainChecker | None = None


def _sort_into(issues: Iterable[Issue], errors: list[Issue], warnings: list[Issue]) -> None:
    """Append each issue to ``warnings`` or ``errors``, by its ``warning`` flag."""
    for issue in issues:
        (warnings if issue.warning else errors).append(issue)


def _count(ich: _Interchange, mres: MessageResult) -> None:
    """Add a judged message to its interchange (and to its UNG group, if one is open)."""
    ich.messages += 1
    if ich.group is not None:
        ich.group.messages += 1
    elif ich.groups:
        ich.result.errors.append(
            Issue(
                SyntaxCode.GROUPS_AND_MESSAGES_MIXED,
                "interchange",
                f"message {echo(mres.ref)} is outside a UNG..UNE group while the interchange "
                "uses groups: put every message in a group or use none",
                mres.position,
                "UNH",
            )
        )
    ich.result.messages.append(mres)


def _close_open_group(ich: _Interchange, position: int) -> None:
    """A UNG group still open when the next UNG or the UNZ comes: its UNE is missing."""
    if ich.group is not None:
        ich.result.errors.extend(check_une(None, position, ich.group.ref, ich.group.messages))


def trailing_separator(msg: ev.Message, d: Delimiters) -> Issue | None:
    """First segment ending in an empty element/component (ISO 9735 code 45), as a warning."""
    ends = (d.element, d.component)
    release = d.release
    body = msg.plain_body()
    run = msg.run
    if body is not None and run is not None and _run_without_trailing(run, d):
        return None
    if (
        body is not None
        and d.element + d.terminator not in body
        and d.component + d.terminator not in body
        and not body.endswith(ends)
    ):
        return None
    texts = msg.plain_texts()
    # no text ends with a separator (released or not): no trailing separator
    if texts is not None and not any(map(str.endswith, texts, repeat(ends))):
        return None
    for index, seg in enumerate(msg.segments):
        text = seg.text
        if text is not None:
            if not text.endswith(ends) or text.endswith(release + text[-1:]):
                continue
        else:
            last = seg.elements[-1] if seg.elements else None
            if not (last == "" or (isinstance(last, list) and last[-1] == "")):
                continue
        return Issue(
            SyntaxCode.TRAILING_SEPARATOR,
            "segment",
            f"{seg.tag} ends with an empty element or component: drop the trailing separator",
            index + 2,
            seg.tag,
            warning=True,
        )
    return None


def _run_without_trailing(run: ev.MessageRun, d: Delimiters) -> bool:
    """No body of ``run`` holds an element or component separator before a terminator or
    ends with one (``trailing_separator``'s first test, for every body at once: in the
    bodies joined by the terminator, a body's end meets the joining terminator)."""
    ok = run.verdicts.get(_TRAILING)
    if ok is None:
        text = d.terminator.join(run.bodies)
        ok = run.verdicts[_TRAILING] = (
            d.element + d.terminator not in text
            and d.component + d.terminator not in text
            and not text.endswith((d.element, d.component))
        )
    return ok


_TRAILING = "trailing separator"  # its ``MessageRun.verdicts`` key
_UNSEEN: Any = object()  # ``Validator._usual_unh`` has not judged this UNH text yet


class Validator:
    """Feed events from an ``EdifactReader``; read ``result`` at the end."""

    def __init__(
        self,
        file: str,
        checks: Sequence[MessageCheck] = (),
        interchange_checks: Sequence[InterchangeCheck] = (),
        *,
        strictness: Strictness = "strict",
    ) -> None:
        self.result = FileResult(file)
        self.strictness = strictness
        self._control_refs: dict[str, int] = {}  # UNB reference -> interchange number
        self.checks = tuple(checks)
        self.interchange_checks = tuple(interchange_checks)
        self._plain: dict[Delimiters, PlainChecker] = {}
        self._types: dict[object, str] = {}  # UNH S009 (as a tuple) -> message type
        # a UNH's text after the reference -> (message type, structure), see ``_usual``
        self._usual_unh: dict[str, tuple[str, MessageStructure] | None] = {}
        self._ich: _Interchange | None = None

    def feed(self, event: ev.Event) -> MessageResult | None:
        """Process one event; returns the message's result for ``Message`` events."""
        if isinstance(event, ev.Message):
            return self._message(event)
        if isinstance(event, ev.WholeRun):
            self._run(event)
            return None
        for kind, handler in _HANDLERS:
            if isinstance(event, kind):
                handler(self, event)
                break
        return None

    def _junk(self, event: ev.Junk) -> None:
        where = "before the first UNA/UNB"
        if self.result.interchanges:
            where = "between or after interchanges"
        self.result.junk.append(JunkSpan(event.offset, event.length, event.preview))
        self.result.warnings.append(
            Issue(
                SyntaxCode.UNSPECIFIED,
                "file",
                f"skipped {event.length} bytes of non-EDIFACT data {where} at byte "
                f"{event.offset} to {event.offset + event.length} ({event.preview!r}): "
                "remove headers or garbage around UNA/UNB..UNZ",
                warning=True,
            )
        )

    def _start(self, header: ev.InterchangeHeader) -> None:
        unb = header.unb
        result = InterchangeResult(
            sender=unb.element(2, 1),
            sender_qualifier=unb.element(2, 2),
            recipient=unb.element(3, 1),
            recipient_qualifier=unb.element(3, 2),
            control_ref=unb.element(5),
            syntax_identifier=header.syntax_identifier,
            syntax_version=header.syntax_version,
            test=unb.element(11) == "1",
            prepared=f"{unb.element(4, 1)}:{unb.element(4, 2)}",
        )
        _sort_into(header.issues, result.errors, result.warnings)
        _sort_into(check_unb(header, self.strictness), result.errors, result.warnings)
        ref = result.control_ref
        number = len(self.result.interchanges) + 1
        first = self._control_refs.setdefault(ref, number) if ref else number
        if first != number:
            result.errors.append(
                unb_issue(
                    SyntaxCode.DUPLICATE,
                    5,
                    None,
                    f"interchange control reference {echo(ref)} is used again in this file "
                    f"(interchange {number}; first used by interchange {first}): each "
                    "interchange needs its own reference",
                )
            )
        for check in self.interchange_checks:
            _sort_into(check(header), result.errors, result.warnings)
        self.result.interchanges.append(result)
        self._ich = _Interchange(header, result)

    def _message(self, msg: ev.Message) -> MessageResult:
        ich = self._ich
        assert ich is not None, "the reader yields messages only inside interchanges"
        mtype = self._type_of(msg)
        ref = msg.ref
        mres = MessageResult(ref, mtype, msg.position)
        errors: list[Issue] = []
        warnings: list[Issue] = []
        if msg.issues:
            _sort_into(msg.issues, errors, warnings)
        errors += check_unh_unt(msg)
        if ref and ref in ich.refs:
            errors.append(
                Issue(
                    SyntaxCode.DUPLICATE,
                    "message",
                    f"message reference {echo(ref)} is used twice in interchange "
                    f"{echo(ich.result.control_ref)}: each UNH needs its own reference",
                    1,
                    "UNH",
                    1,
                )
            )
        ich.refs.add(ref)
        structure = structure_for(mtype)
        mres.structure_checked = structure is not None
        plain = ich.plain or self._plain_checker(ich)
        body = msg.plain_body()
        rep = msg.repetition
        if (
            structure is None
            or body is None
            or (rep and rep in body)
            or not plain.clean_body(body, structure, mtype, msg.run, msg.shape)
        ):  # else check_message finds nothing: the body path says the message is clean
            found = check_message(
                msg, ich.header.delimiters, mtype, plain, lenient=self.strictness == "lenient"
            )
            _sort_into(found, errors, warnings)
        trailing = trailing_separator(msg, ich.header.delimiters)
        if trailing is not None:
            warnings.append(trailing)
        for check in self.checks:
            _sort_into(check(ich.header, msg), errors, warnings)
        if len(errors) > MAX_ERRORS_PER_MESSAGE:
            hidden = len(errors) - MAX_ERRORS_PER_MESSAGE
            del errors[MAX_ERRORS_PER_MESSAGE:]
            errors.append(
                Issue(
                    SyntaxCode.UNSPECIFIED,
                    "message",
                    f"{hidden} more errors in message {echo(ref)} not listed: fix the ones "
                    "above first (they often cause the rest)",
                )
            )
        if errors:
            mres.errors = errors
        if warnings:
            mres.warnings = warnings
        _count(ich, mres)
        return mres

    def _run(self, run: ev.WholeRun) -> None:
        """A ``WholeRun``: each message that is plainly clean (a usual UNH and UNT, a new
        reference, a known structure, ``clean_body``, no trailing separator in the run) is
        judged from its texts, as ``_message`` would judge it (nothing found); any other is
        built and handed to ``_message``."""
        ich = self._ich
        assert ich is not None, "the reader yields messages only inside interchanges"
        d = run.delimiters
        if self.checks or not _run_without_trailing(run.run, d):
            for k in range(len(run)):
                self._message(run.message(k))
            return
        plain = ich.plain or self._plain_checker(ich)
        clean_body = plain.clean_body
        usual = self._usual_unh
        es, cs, rep = d.element, d.component, run.repetition
        refs = ich.refs
        mrun = run.run
        for k, (unh, unt, body, count, shape, position) in enumerate(
            zip(run.unhs, run.unts, mrun.bodies, run.counts, run.shapes, run.positions, strict=True)
        ):
            parts = unh.split(es, 2)
            known = None
            if len(parts) == 3:
                known = usual.get(parts[2], _UNSEEN)
                if known is _UNSEEN:
                    known = self._usual(parts[2], es, cs)
            ref = parts[1]
            if (
                known is None
                or not 0 < len(ref) <= 14
                or cs in ref
                or ref in refs
                or unt != f"UNT{es}{count + 2}{es}{ref}"
                or (rep and rep in body)
                or not clean_body(body, known[1], known[0], mrun, shape)
            ):
                self._message(run.message(k))
                continue
            refs.add(ref)
            _count(ich, MessageResult(ref, known[0], position, structure_checked=True))

    def _usual(self, rest: str, es: str, cs: str) -> tuple[str, MessageStructure] | None:
        """A UNH's text after its reference: (message type, structure) when its S009 has
        the 4 mandatory components (a UNH with a usual reference then has no finding) and
        the structure is known, else None; remembered in ``_usual_unh``."""
        if len(self._usual_unh) >= 1000:
            self._usual_unh.clear()
        s009 = rest.split(es, 1)[0]
        parts = s009.split(cs)
        found = None
        if cs in s009 and len(parts) >= 4 and all(parts[:4]):
            mtype = sys.intern(ev.message_type(parts))
            structure = structure_for(mtype)
            if structure is not None:
                found = (mtype, structure)
        self._usual_unh[rest] = found
        return found

    def _type_of(self, msg: ev.Message) -> str:
        """``msg.type``, one string for thousands of messages of a type (remembered by
        the UNH's S009 element, which is all it is made of)."""
        elements = msg.unh.elements
        s009 = elements[1] if len(elements) > 1 else ""
        key = tuple(s009) if s009.__class__ is list else s009
        found = self._types.get(key)
        if found is None:
            if len(self._types) >= 1000:
                self._types.clear()
            found = self._types[key] = sys.intern(msg.type)
        return found

    def _plain_checker(self, ich: _Interchange) -> PlainChecker:
        """One checker per file and delimiters: what it remembers is this file's texts."""
        if ich.plain is None:
            d = ich.header.delimiters
            ich.plain = self._plain.get(d)
            if ich.plain is None:
                ich.plain = self._plain[d] = PlainChecker(d)
        return ich.plain

    def _group_start(self, event: ev.GroupHeader) -> None:
        ich = self._ich
        assert ich is not None
        _close_open_group(ich, event.position)
        if ich.messages and not ich.groups:
            ich.result.errors.append(
                Issue(
                    SyntaxCode.GROUPS_AND_MESSAGES_MIXED,
                    "interchange",
                    "a UNG group follows messages outside any group: use groups for all "
                    "messages or none",
                    event.position,
                    "UNG",
                )
            )
        ich.groups += 1
        ich.group = _Group(event.ung.element(5), event.position)
        ich.result.errors.extend(check_ung(event.ung, event.position))

    def _group_end(self, event: ev.GroupTrailer) -> None:
        ich = self._ich
        assert ich is not None
        if ich.group is None:
            ich.result.errors.append(
                Issue(
                    SyntaxCode.OUTSIDE_MESSAGE,
                    "interchange",
                    "UNE without a UNG before it: remove it or add the UNG",
                    event.position,
                    "UNE",
                )
            )
            return
        ich.result.errors.extend(
            check_une(event.une, event.position, ich.group.ref, ich.group.messages)
        )
        ich.group = None

    def _stray(self, event: ev.StraySegment) -> None:
        ich = self._ich
        assert ich is not None
        ich.result.errors.append(
            Issue(
                SyntaxCode.OUTSIDE_MESSAGE,
                "interchange",
                f"segment {echo(event.segment.tag, 12)} is outside any UNH..UNT message: a UNH is "
                "missing or a UNT came too early",
                event.position,
                event.segment.tag,
            )
        )

    def _end(self, event: ev.InterchangeTrailer) -> None:
        ich = self._ich
        assert ich is not None
        _close_open_group(ich, event.position)
        ich.result.errors.extend(
            check_unz(event.unz, event.position, ich.result.control_ref, ich.messages, ich.groups)
        )
        if ich.messages == 0:
            ich.result.errors.append(
                Issue(
                    SyntaxCode.LOWER_LEVEL_EMPTY,
                    "interchange",
                    f"interchange {echo(ich.result.control_ref)} holds no message",
                    event.position,
                    "UNZ" if event.unz is not None else "UNB",
                )
            )
        self._ich = None

    def finish(self) -> FileResult:
        """Close the file: report when no interchange was found at all."""
        if not self.result.interchanges:
            self.result.errors.append(
                Issue(
                    SyntaxCode.MISSING,
                    "file",
                    "no EDIFACT interchange found (no UNB segment): the file is not EDIFACT, "
                    "is empty, or its header is damaged",
                    tag="UNB",
                )
            )
        return self.result


# what ``Validator.feed`` does with each event other than a message
_HANDLERS: tuple[tuple[type, Callable[[Validator, Any], None]], ...] = (
    (ev.InterchangeHeader, Validator._start),
    (ev.InterchangeTrailer, Validator._end),
    (ev.GroupHeader, Validator._group_start),
    (ev.GroupTrailer, Validator._group_end),
    (ev.StraySegment, Validator._stray),
    (ev.Junk, Validator._junk),
)


def validate_events(
    events: Iterable[ev.Event], file: str, checks: Sequence[MessageCheck] = ()
) -> FileResult:
    """Validate an event stream (from ``EdifactReader``)."""
    validator = Validator(file, checks)
    feed = validator.feed
    for event in events:
        feed(event)
    return validator.finish()


def validate(
    source: Source,
    *,
    file: str | None = None,
    policy: CharsetPolicy = "strict",
    strict_repertoire: bool = False,
    checks: Sequence[MessageCheck] = (),
    interchange_checks: Sequence[InterchangeCheck] = (),
    strictness: Strictness = "strict",
) -> FileResult:
    """Validate one file (path, bytes or binary stream). Never raises on bad content.

    An unreadable source (missing file, I/O error) gives a quarantined result naming it.
    ``strictness``: see ``connectors.edi.strictness`` (the default keeps the historical
    judgement; ``hub edi validate`` without a partner uses ``standard``).
    """
    name = file or (str(source) if isinstance(source, str | Path) else "<bytes>")
    reader = EdifactReader(source, policy=policy, strict_repertoire=strict_repertoire, runs=True)
    validator = Validator(name, checks, interchange_checks, strictness=strictness)
    feed, run, run_class = validator.feed, validator._run, ev.WholeRun
    try:
        for event in reader:
            if event.__class__ is run_class:
                run(event)  # what ``feed`` does with it, one call less
            else:
                feed(event)
    except EdifactError as exc:
        validator.result.errors.append(Issue(exc.syntax_code, "file", f"{name}: {exc.message}"))
    result = validator.finish()
    result.bytes_read = reader.bytes_read
    return result
