"""Streaming EDIFACT tokenizer: bytes or a file in, envelope events and messages out, one at a time.

Why not pydifact's tokenizer: pydifact 0.2.3 reads one character at a time (0.3-0.5 MB/s
here), keeps every segment of the file alive (memory grows with the file, time faster than
linearly), fails on a UTF-8 BOM and on UNG/UNE, silently merges several interchanges in one
file and ignores the UNB character set (see PITFALLS.md). This reader works on byte chunks
with ``bytes.split`` on the segment terminator (C speed), only walks characters of the rare
segments holding a release character, decodes each segment by the UNB syntax identifier and
hands out one message at a time, so memory is bounded by the largest message, not the file.
Segments are pydifact ``Segment`` objects (a subclass with a cheap constructor) so pydifact's
serializer and callers used to its element model (``str`` or ``list[str]``) keep working.

Events, in file order: ``Junk`` (bytes skipped before/between interchanges, reported),
``InterchangeHeader`` (UNA + UNB), ``GroupHeader`` (UNG), ``Message`` (UNH..UNT with its
body), ``StraySegment`` (a segment outside any message), ``GroupTrailer`` (UNE),
``InterchangeTrailer`` (UNZ, or ``unz=None`` when the file or the next UNB ends it first).
The reader never raises on bad input except ``EdifactError`` for an unreadable source;
everything else is reported as an ``Issue`` on the event it belongs to.

This module is the reader itself (chunks, the block and per-segment paths, envelope state);
``tokenizer_segments`` holds ``Segment``, ``Delimiters`` and segment splitting,
``tokenizer_events`` the events, ``tokenizer_decode`` the character set decoding. Their
public names are importable from here as before.
"""

from __future__ import annotations

import re
from collections.abc import Generator, Iterator
from typing import IO

from connectors.edi.charsets import CharsetPolicy, SyntaxCharset, lookup
from connectors.edi.errors import EdifactError, Issue, SyntaxCode
from connectors.edi.tokenizer_decode import decode_segment
from connectors.edi.tokenizer_events import (
    Event,
    GroupHeader,
    GroupTrailer,
    InterchangeHeader,
    InterchangeTrailer,
    Junk,
    Message,
    StraySegment,
    WholeRun,
)
from connectors.edi.tokenizer_scan import (
    ENVELOPE_TAGS,
    Source,
    open_source,
    plain_flags,
    plain_text,
    raw_cut,
    split_pieces,
    unb_continues,
    whole_run,
)
from connectors.edi.tokenizer_scan import preview as printable
from connectors.edi.tokenizer_segments import (
    DEFAULT_DELIMITERS,
    Delimiters,
    Element,
    Segment,
    parse_text,
    repetition_separator,
    segment_from_text,
    split_segment,
)

__all__ = [
    "CHUNK_SIZE",
    "DEFAULT_DELIMITERS",
    "Delimiters",
    "EdifactReader",
    "Element",
    "Event",
    "GroupHeader",
    "GroupTrailer",
    "InterchangeHeader",
    "InterchangeTrailer",
    "Junk",
    "Message",
    "Segment",
    "Source",
    "StraySegment",
    "WholeRun",
    "iter_events",
    "segment_from_text",
    "split_segment",
]


# 128 KiB read at a time: a chunk's pieces, heads and flags (~5x its size as objects) stay
# in a core's 1 MiB L2 cache; 1 MiB chunks were 5-10% slower for the same instructions
CHUNK_SIZE = 1 << 17
_BOM = b"\xef\xbb\xbf"
# An interchange starts at UNA or UNB, at the start of the data or after a non-alphanumeric
# byte; glued to junk before it, only where it plainly reads as one (UNB+UNOC:..., or UNA and
# six service characters), so that a word like "FUNBOX" in a header is no interchange.
_START = re.compile(
    rb"(?<![A-Za-z0-9])UN[AB]|UNB[^A-Za-z0-9\s][A-Z]{4}[^A-Za-z0-9\s]|UNA[^A-Za-z0-9\r\n]{6}"
)


class EdifactReader:
    """Iterate a file's EDIFACT events; see the module docstring.

    ``policy`` says what to do with bytes that do not match the UNB syntax identifier (a
    UTF-8 file declared UNOC, 8-bit bytes in UNOA...); ``strict_repertoire`` makes ASCII
    characters outside a level A/B repertoire (lower case in UNOA, common in practice) an
    error instead of a warning; ``chunk_size`` is how many bytes are read at a time;
    ``runs``: whole plain messages come as ``WholeRun`` events (texts only, for a caller
    that only validates them) instead of one ``Message`` each.
    """

    def __init__(
        self,
        source: Source,
        *,
        policy: CharsetPolicy = "strict",
        strict_repertoire: bool = False,
        chunk_size: int = CHUNK_SIZE,
        runs: bool = False,
    ) -> None:
        self._source = source
        self.runs = runs
        self.policy = policy
        self.strict_repertoire = strict_repertoire
        self.chunk_size = max(16, chunk_size)
        self.bytes_read = 0

    def __iter__(self) -> Iterator[Event]:
        stream, owned = open_source(self._source)
        try:
            yield from _Run(self, stream).events()
        finally:
            if owned:
                stream.close()


class _Run:
    """The state of one pass over a stream (kept apart so a reader can be iterated again)."""

    def __init__(self, reader: EdifactReader, stream: IO[bytes]) -> None:
        self.reader = reader
        self.stream = stream
        self.policy = reader.policy
        self.eof = False
        self.offset = 0  # raw bytes of the stream before the buffer being worked on
        self.consumed = 0  # bytes of the (CR/LF-stripped) buffer of ``pieces`` done so far
        self.delims = DEFAULT_DELIMITERS
        self.una = False
        self.strip_newlines = True
        self.una_issue: Issue | None = None
        # interchange state
        self.in_interchange = False
        self.seg_no = 0
        self.charset: SyntaxCharset | None = None
        self.bad_bytes: re.Pattern[bytes] | None = None
        self.msg: Message | None = None
        self.msg_charset_reported = False
        self.pending_issues: list[Issue] = []
        self.carry = b""  # the unterminated rest of the last buffer
        self.sought = False  # seek just chose the delimiters of the UNB the buffer starts with
        self.rep = ""  # the syntax 4 repetition separator of the interchange ('' none)

    # -- input -------------------------------------------------------------------------
    def read(self) -> bytes:
        if self.eof:
            return b""
        try:
            data = self.stream.read(self.reader.chunk_size)
        except OSError as exc:
            raise EdifactError(f"cannot read EDIFACT input: {exc}", code=18) from exc
        if not isinstance(data, bytes | bytearray):
            raise EdifactError("EDIFACT input must be opened in binary mode", code=18)
        if not data:
            self.eof = True
            return b""
        self.reader.bytes_read += len(data)
        return bytes(data)

    def clean(self, data: bytes) -> bytes:
        """Drop CR/LF: segment-per-line layout and hard wraps inside data are line wrapping."""
        if self.strip_newlines and (b"\n" in data or b"\r" in data):
            return data.replace(b"\r", b"").replace(b"\n", b"")
        return data

    # -- top level ---------------------------------------------------------------------
    def events(self) -> Iterator[Event]:
        buf = self.read()
        if buf.startswith(_BOM):
            buf = buf[3:]
            self.offset = 3
        while True:
            found = yield from self.seek(buf)
            if found is None:
                break
            buf = found
            rest = yield from self.segments(buf)
            if rest is None:
                break
            buf = rest
        yield from self.finish()

    def seek(self, buf: bytes) -> Generator[Event, None, bytes | None]:
        """Skip to the next UNA/UNB, reporting what was skipped. Returns the raw buffer from UNB."""
        junk_start = self.offset
        junk_len = 0
        preview = b""
        previous = self.delims
        while True:
            m = _START.search(buf)
            while m is not None and m.group() == b"UNA" and len(buf) - m.start() < 9:
                if self.eof:
                    break
                more = self.read()
                if not more:
                    break
                buf += more
                m = _START.search(buf)
            if m is not None:
                skipped = buf[: m.start()]
                if skipped.strip():
                    if not junk_len:
                        junk_start = self.offset + len(skipped) - len(skipped.lstrip())
                        skipped = skipped.lstrip()
                    junk_len = self.offset + m.start() - junk_start
                    preview = (preview + skipped)[:60]
                if junk_len:
                    yield Junk(junk_start, junk_len, printable(preview))
                self.offset += m.start()
                buf = buf[m.start() :]
                if buf.startswith(b"UNA"):
                    self.apply_una(buf[3:9].decode("latin-1"))
                    self.offset += 9
                    buf = buf[9:]
                else:
                    self.una = False
                    # a UNB without UNA has the default delimiters, unless it plainly goes on
                    # with the ones of the interchange before it (a partner's shortcut)
                    same = previous.element != "+" and buf[3:4] == previous.element.encode(
                        "latin-1"
                    )
                    self.delims = previous if same else DEFAULT_DELIMITERS
                    d = self.delims
                    self.strip_newlines = not any(
                        c in "\r\n" for c in (d.terminator, d.element, d.component)
                    )
                self.sought = True
                return buf
            # keep a short tail: "UNA"/"UNB" may straddle the chunk boundary
            keep = buf[-8:]
            skipped = buf[: len(buf) - len(keep)]
            if skipped.strip():
                if not junk_len:
                    junk_start = self.offset + len(skipped) - len(skipped.lstrip())
                    skipped = skipped.lstrip()
                junk_len = self.offset + len(buf) - len(keep) - junk_start
                preview = (preview + skipped)[:60]
            self.offset += len(buf) - len(keep)
            more = self.read()
            if not more:
                if keep.strip():
                    if not junk_len:
                        junk_start = self.offset + len(keep) - len(keep.lstrip())
                    junk_len = self.offset + len(keep.rstrip()) - junk_start
                    preview = (preview + keep)[:60]
                if junk_len:
                    yield Junk(junk_start, junk_len, printable(preview))
                return None
            buf = keep + more

    def apply_una(self, chars: str) -> None:
        try:
            self.delims = Delimiters.from_una(chars)
            self.una_issue = None
        except EdifactError as exc:
            self.delims = DEFAULT_DELIMITERS
            self.una_issue = Issue(
                exc.syntax_code, "interchange", f"{exc.message}; fix the UNA segment", 0, "UNA"
            )
        self.una = True
        d = self.delims
        self.strip_newlines = not any(c in "\r\n" for c in (d.terminator, d.element, d.component))

    # -- segments ----------------------------------------------------------------------
    def segments(self, raw: bytes) -> Generator[Event, None, bytes | None]:
        """Tokenize from UNB on. Returns the raw buffer to re-seek from, or None at end of input.

        ``raw`` is the input as read; CR/LF are dropped per buffer (``clean``) and the raw
        offset of what is left is worked out only where it is needed: the unterminated rest
        carried to the next chunk, and a re-seek (junk, a UNA with other delimiters).
        """
        while True:
            buf = self.clean(raw)
            self.consumed = 0
            rescan = yield from self.pieces(buf)
            term = self.delims.terminator.encode("latin-1")
            if rescan is not None:
                cut = raw_cut(raw, buf, rescan, term)
                self.offset += cut
                return raw[cut:]
            carry_start = len(buf) - len(self.carry)
            cut = raw_cut(raw, buf, carry_start, term)
            self.offset += cut
            carry = raw[cut:]
            more = self.read()
            if not more:
                rest = self.clean(carry)
                if rest.strip():
                    if self.in_interchange or self.continues(rest):
                        self.sought = False
                        yield from self.segment(rest, unterminated=True) or ()
                    else:
                        return carry  # seek: the next interchange, or junk it reports
                return None
            raw = carry + more

    def pieces(self, buf: bytes) -> Generator[Event, None, int | None]:
        """Tokenize the terminated segments in ``buf`` (CR/LF dropped).

        Leaves the unterminated rest in ``carry`` and returns None; or returns the offset in
        ``buf`` to re-seek from: a UNA with other delimiters, or bytes after an interchange
        that are no UNB (junk, reported by ``seek`` with its raw offsets).
        """
        term = self.delims.terminator.encode("latin-1")
        rel = self.delims.release.encode("latin-1")
        pieces, self.carry = split_pieces(buf, term, rel)
        segment = self.segment
        es = self.delims.element
        es_b = es.encode("latin-1")
        unh_head, unt_head = b"UNH" + es_b, b"UNT" + es_b
        plain, heads = plain_flags(pieces, es_b)
        i, n = 0, len(pieces)
        plain_from = 0  # pieces before this index were refused by the block path
        runs = self.reader.runs
        while i < n:
            msg = self.msg
            if msg is None and self.in_interchange and pieces[i][:4] == unh_head:
                # the fastest path: whole plain messages, as a WholeRun (``runs``) or messages
                run, i, self.seg_no, taken = whole_run(
                    pieces, plain, heads, i, self.delims, self.rep, self.bad_bytes, self.seg_no
                )
                if run is not None:
                    self.consumed += taken
                    if runs:
                        yield run
                    else:
                        yield from run.messages()
                    continue  # the next run may follow
            if msg is not None and i >= plain_from:
                j = self.block(msg, pieces, plain, i, term)
                if j > i:
                    i = j
                    continue
                plain_from = -j + 1
            piece = pieces[i]
            i += 1
            head = piece[:4]
            if (
                (head == unh_head or (head == unt_head and self.msg is not None))
                and self.in_interchange
                and self.bad_bytes is None
                and piece.isascii()
                and rel not in piece
            ):
                # the other hot path: a plain UNH or UNT, without the general segment walk
                closed = self.edge(piece, head == unh_head)
                if closed is not None:
                    yield closed
                continue
            if not piece or piece.isspace():
                self.consumed += len(piece) + 1
                continue
            if piece[:3] == b"UNA" and not self.in_message_piece(piece):
                # a new service string advice: re-scan from it, so that the rest is split
                # (terminator, release) and read (separators) with its delimiters
                yield from self.end_interchange(None)
                if piece != b"UNA" + self.delims.una().encode("latin-1")[3:8]:
                    return self.consumed
                self.una = True  # the same delimiters again: no need to re-scan
                self.consumed += len(piece) + 1
                continue
            if not self.in_interchange and not self.continues(piece):
                # after a UNZ comes something that is no UNB read with these delimiters:
                # let seek find the next interchange (with its own delimiters) and report
                # the bytes before it (with their offsets) as junk
                return self.consumed
            self.sought = False
            self.consumed += len(piece) + 1
            if self.msg is not None and self.data_text(piece, es):
                continue
            events = segment(piece)
            if events:
                yield from events
        return None

    def block(
        self, msg: Message, pieces: tuple[bytes, ...], plain: bytearray, i: int, term: bytes
    ) -> int:
        """Block path: the run of plain data segments of the open message from ``pieces[i]``
        on, decoded and kept as one text in a few C calls (Message.add_block). Returns the
        index after the run, or minus the index where the run stops when it is refused."""
        j = plain.index(0, i)  # every head was judged (plain_flags)
        if j > i:
            blob = term.join(pieces[i:j])
            bad = self.bad_bytes
            if blob.isascii() and (bad is None or bad.search(blob) is None):
                msg.add_block(blob.decode("ascii"), j - i)
                self.seg_no += j - i
                self.consumed += len(blob) + 1
                return j
        return -j

    def edge(self, piece: bytes, unh: bool) -> Message | None:
        """A plain ASCII UNH or UNT (checked by the caller); returns the message it closes."""
        d = self.delims
        seg = segment_from_text(piece.decode("ascii"), d.element, d.component)
        self.seg_no += 1
        self.consumed += len(piece) + 1
        closed = self.close_message(None if unh else seg) if self.msg is not None else None
        if unh:
            self.msg = Message(seg, [], None, self.seg_no, delimiters=d, repetition=self.rep)
            self.msg_charset_reported = False
        return closed

    def data_text(self, piece: bytes, es: str) -> bool:
        """Keep a plain ASCII data segment of the open message as its text (release
        characters and all: Message.segments parses it when read); False: not plain."""
        text = plain_text(piece, es) if self.bad_bytes is None else None
        if text is None:
            return False
        assert self.msg is not None
        self.msg.add_texts([text])
        self.seg_no += 1
        return True

    def continues(self, piece: bytes) -> bool:
        """After a UNZ: does ``piece`` start a UNB read with the current delimiters?"""
        return self.sought or unb_continues(piece, self.delims, self.una)

    def in_message_piece(self, piece: bytes) -> bool:
        """A 'UNA...' piece is a service string advice only outside a message."""
        return self.msg is not None and len(piece) != 8

    def segment(self, piece: bytes, *, unterminated: bool = False) -> list[Event] | None:
        """Tokenize one segment; returns the events it completes (None: nothing new)."""
        if self.bad_bytes is None and piece.isascii():
            text = piece.decode("ascii")
            issue = None
        else:
            text, issue = decode_segment(
                piece, self.charset, self.bad_bytes, self.policy, self.reader.strict_repertoire
            )
        if text[:1].isspace():
            text = text.lstrip()
        d = self.delims
        if d.release not in text and not (self.rep and self.rep in text):
            parts = text.split(d.element)
            tag = parts[0]
            cs = d.component
            seg = Segment.of(tag, [p.split(cs) if cs in p else p for p in parts[1:]])
            seg.text = text
        else:
            seg = parse_text(text, d, self.rep)
            tag = seg.tag
        msg = self.msg
        if msg is not None and tag not in ENVELOPE_TAGS:
            self.seg_no += 1
            msg.add(seg)
            if issue is not None or unterminated or not (len(tag) == 3 and tag.isalnum()):
                self.note(msg, seg, msg.segment_count + 1, issue, unterminated)
            return None
        if not self.in_interchange:
            if tag == "UNB":
                return self.start_interchange(seg, issue)
            return [Junk(self.consumed - len(piece) - 1, len(piece) + 1, printable(piece))]
        self.seg_no += 1
        if tag == "UNH":
            events: list[Event] = [self.close_message(None)] if msg is not None else []
            self.msg = Message(
                seg, [], None, self.seg_no, delimiters=self.delims, repetition=self.rep
            )
            self.msg_charset_reported = False
            if issue is not None or unterminated:
                self.note(self.msg, seg, 1, issue, unterminated)
            return events
        if tag == "UNT":
            if msg is None:
                return [StraySegment(seg, self.seg_no)]
            if issue is not None or unterminated:
                self.note(msg, seg, msg.segment_count + 2, issue, unterminated)
            return [self.close_message(seg)]
        events = [self.close_message(None)] if msg is not None else []
        if tag == "UNZ":
            events += self.end_interchange(seg)
        elif tag == "UNB":
            self.seg_no -= 1
            events += self.end_interchange(None)
            events += self.start_interchange(seg, issue)
        elif tag == "UNG":
            events.append(GroupHeader(seg, self.seg_no))
        elif tag == "UNE":
            events.append(GroupTrailer(seg, self.seg_no))
        else:
            events.append(StraySegment(seg, self.seg_no))
        return events

    def note(
        self,
        msg: Message,
        seg: Segment,
        position: int,
        issue: Issue | None,
        unterminated: bool,
    ) -> None:
        tag = seg.tag
        # every character set error is reported; a warning (lower case in UNOA, a UTF-8
        # fallback) only once per message, so that it can never hide a later error
        if issue is not None and not (issue.warning and self.msg_charset_reported):
            issue.segment_position = position
            issue.tag = tag
            msg.issues.append(issue)
            if issue.warning:
                self.msg_charset_reported = True
        if unterminated:
            msg.issues.append(
                Issue(
                    SyntaxCode.MISSING,
                    "segment",
                    f"segment terminator {self.delims.terminator!r} missing at end of file; "
                    "the file is truncated or cut off",
                    position,
                    tag,
                )
            )
        if not (len(tag) == 3 and tag.isalnum() and tag.isupper()):
            msg.issues.append(
                Issue(
                    SyntaxCode.INVALID_VALUE,
                    "segment",
                    f"segment tag {tag[:20]!r} is not 3 upper-case letters or digits; "
                    "a separator or release character is probably wrong",
                    position,
                    tag[:3],
                )
            )

    def start_interchange(self, unb: Segment, issue: Issue | None) -> list[Event]:
        self.in_interchange = True
        self.seg_no = 1
        self.msg = None
        s001 = unb.elements[0] if unb.elements else ""
        s001 = s001 if isinstance(s001, list) else [s001]
        ident = s001[0] if s001 else ""
        version = s001[1] if len(s001) > 1 else ""
        charset = lookup(ident) if ident else None
        self.charset = charset
        self.rep = repetition_separator(self.delims, version, self.una)
        d = self.delims
        extra = d.component + d.element + d.release + d.terminator + d.decimal + d.reserved
        self.bad_bytes = charset.invalid_bytes(extra.encode("latin-1")) if charset else None
        issues: list[Issue] = []
        if self.una_issue is not None:
            issues.append(self.una_issue)
            self.una_issue = None
        if issue is not None:
            issue.level = "interchange"
            issue.segment_position = 1
            issue.tag = "UNB"
            issues.append(issue)
        return [InterchangeHeader(unb, d, self.una, ident, version, charset, issues)]

    def close_message(self, unt: Segment | None) -> Message:
        msg = self.msg
        assert msg is not None
        msg.unt = unt
        self.msg = None
        return msg

    def end_interchange(self, unz: Segment | None) -> list[Event]:
        if not self.in_interchange:
            return []
        events: list[Event] = [self.close_message(None)] if self.msg is not None else []
        self.in_interchange = False
        self.una = False
        events.append(InterchangeTrailer(unz, self.seg_no))
        return events

    def finish(self) -> Iterator[Event]:
        yield from self.end_interchange(None)


def iter_events(source: Source, *, policy: CharsetPolicy = "strict") -> Iterator[Event]:
    """Shortcut for ``iter(EdifactReader(source, policy=policy))``."""
    return iter(EdifactReader(source, policy=policy))
