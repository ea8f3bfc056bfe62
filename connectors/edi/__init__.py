"""EDIFACT codec: streaming tokenizer, serializer, envelope and message validation."""

from connectors.edi.charsets import CharsetPolicy
from connectors.edi.errors import EdifactError, Issue, SyntaxCode
from connectors.edi.result import FileResult, InterchangeResult, JunkSpan, MessageResult
from connectors.edi.serializer import (
    OutboundMessage,
    build_interchange,
    render_interchange,
    serialize,
)
from connectors.edi.strictness import STRICTNESS_LEVELS, Strictness
from connectors.edi.tokenizer import (
    Delimiters,
    EdifactReader,
    InterchangeHeader,
    InterchangeTrailer,
    Message,
    Segment,
)
from connectors.edi.validation import MessageCheck, Validator, validate

__all__ = [
    "CharsetPolicy",
    "Delimiters",
    "EdifactError",
    "EdifactReader",
    "FileResult",
    "InterchangeHeader",
    "InterchangeResult",
    "InterchangeTrailer",
    "Issue",
    "JunkSpan",
    "Message",
    "MessageCheck",
    "MessageResult",
    "OutboundMessage",
    "STRICTNESS_LEVELS",
    "Segment",
    "Strictness",
    "SyntaxCode",
    "Validator",
    "build_interchange",
    "render_interchange",
    "serialize",
    "validate",
]
