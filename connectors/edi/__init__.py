"""EDIFACT codec: streaming tokenizer, serializer, envelope and message validation.

The names below load on first use (PEP 562), so that importing one module of the codec
(``connectors.edi.validation`` for `hub edi validate`) does not import the serializer too.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

_WHERE = {
    "charsets": ("CharsetPolicy",),
    "errors": ("EdifactError", "Issue", "SyntaxCode"),
    "result": ("FileResult", "InterchangeResult", "JunkSpan", "MessageResult"),
    "serializer": ("OutboundMessage", "build_interchange", "render_interchange", "serialize"),
    "strictness": ("STRICTNESS_LEVELS", "Strictness"),
    "tokenizer": (
        "Delimiters",
        "EdifactReader",
        "InterchangeHeader",
        "InterchangeTrailer",
        "Message",
        "Segment",
    ),
    "validation": ("MessageCheck", "Validator", "validate"),
}
_MODULE = {name: module for module, names in _WHERE.items() for name in names}

__all__ = [
    "STRICTNESS_LEVELS",
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
    "Segment",
    "Strictness",
    "SyntaxCode",
    "Validator",
    "build_interchange",
    "render_interchange",
    "serialize",
    "validate",
]


def __getattr__(name: str) -> Any:
    module = _MODULE.get(name)
    if module is None:
        raise AttributeError(f"module 'connectors.edi' has no attribute {name!r}")
    value = getattr(import_module(f"connectors.edi.{module}"), name)
    globals()[name] = value
    return value
