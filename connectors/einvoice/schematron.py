"""A small ISO Schematron -> XSLT 3.0 compiler for the XRechnung CIUS rules (query binding xslt2).

Written by hand because no well-kept Python package compiles Schematron for the xslt2 query
binding: ``pyschematron`` evaluates XPath itself with elementpath and cannot run the
``xsl:function`` the XRechnung CII rules declare, and the reference compilers (SchXslt,
the ISO skeleton) are XSLT that would have to be vendored. The subset here is what the
XRechnung sources use: ``ns``, ``include`` (of a pattern), global and rule ``let``,
``pattern``/``rule``/``assert``/``report`` with ``id`` and ``flag``, ``name`` and
``value-of`` in messages, and top-level ``xsl:*`` declarations copied as they are. As in
the standard skeleton, each pattern visits every element and attribute once and the first
rule whose context matches fires. Saxon (``saxonche``) runs the result; the SVRL it writes
is read by ``connectors.einvoice.svrl``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TypeAlias

from lxml import etree

SCH = "http://purl.oclc.org/dsdl/schematron"
XSL = "http://www.w3.org/1999/XSL/Transform"
SVRL = "http://purl.oclc.org/dsdl/svrl"

El: TypeAlias = etree._Element


def _q(ns: str, tag: str) -> str:
    return f"{{{ns}}}{tag}"


def _load(path: Path) -> El:
    """The schema with each ``include`` replaced by the element it points at."""
    root = etree.parse(str(path)).getroot()
    for inc in list(root.iter(_q(SCH, "include"))):
        included = _load((path.parent / str(inc.get("href"))).resolve())
        parent = inc.getparent()
        assert parent is not None
        parent.replace(inc, included)
    return root


def _message(target: El, source: El) -> None:
    """Copy an assert's text into ``svrl:text``: ``name`` and ``value-of`` become XSLT."""
    text = etree.SubElement(target, _q(SVRL, "text"))
    text.text = source.text
    last: El | None = None
    for child in source:
        if child.tag == _q(SCH, "name"):
            path = child.get("path") or "."
            last = etree.SubElement(text, _q(XSL, "value-of"), select=f"name({path})")
        elif child.tag == _q(SCH, "value-of"):
            last = etree.SubElement(text, _q(XSL, "value-of"), select=str(child.get("select")))
        else:  # emph, span, dir: their text
            last = etree.SubElement(text, _q(XSL, "text"))
            last.text = "".join(child.itertext())
        last.tail = child.tail


def _check(template: El, check: El, context: str) -> None:
    """One assert (fails when the test is false) or report (fires when it is true)."""
    is_assert = check.tag == _q(SCH, "assert")
    test = str(check.get("test"))
    guard = etree.SubElement(template, _q(XSL, "if"), test=f"not({test})" if is_assert else test)
    out = etree.SubElement(guard, _q(SVRL, "failed-assert" if is_assert else "successful-report"))
    out.set("test", test)
    for attr in ("id", "flag"):
        if check.get(attr):
            out.set(attr, str(check.get(attr)))
    loc = etree.SubElement(out, _q(XSL, "attribute"), name="location")
    etree.SubElement(loc, _q(XSL, "value-of"), select="path(.)")
    _message(out, check)


def _rule(stylesheet: El, rule: El, mode: str, priority: int) -> None:
    context = str(rule.get("context"))
    template = etree.SubElement(
        stylesheet, _q(XSL, "template"), match=context, mode=mode, priority=str(priority)
    )
    fired = etree.SubElement(template, _q(SVRL, "fired-rule"))
    fired.set("context", context)
    for child in rule:
        if child.tag == _q(SCH, "let"):
            etree.SubElement(
                template,
                _q(XSL, "variable"),
                name=str(child.get("name")),
                select=str(child.get("value")),
            )
        elif child.tag in (_q(SCH, "assert"), _q(SCH, "report")):
            _check(template, child, context)
    etree.SubElement(template, _q(XSL, "apply-templates"), select="@*|*", mode=mode)


def _active(schema: El) -> set[str] | None:
    """The pattern ids of the schema's default phase (all patterns without one)."""
    default = schema.get("defaultPhase")
    for phase in schema.iter(_q(SCH, "phase")):
        if default is None or phase.get("id") == default:
            return {str(a.get("pattern")) for a in phase.iter(_q(SCH, "active"))}
    return None


def compile_schematron(path: Path) -> bytes:
    """The XSLT 3.0 stylesheet of the Schematron schema at ``path`` (writes SVRL)."""
    schema = _load(path)
    nsmap = {k: v for k, v in schema.nsmap.items() if k}
    for ns in schema.iter(_q(SCH, "ns")):
        nsmap[str(ns.get("prefix"))] = str(ns.get("uri"))
    nsmap.update({"xsl": XSL, "svrl": SVRL})
    nsmap.setdefault("xs", "http://www.w3.org/2001/XMLSchema")
    stylesheet = etree.Element(_q(XSL, "stylesheet"), nsmap=nsmap, version="3.0")
    stylesheet.set("exclude-result-prefixes", " ".join(k for k in nsmap if k != "svrl"))
    for child in schema:
        if isinstance(child.tag, str) and child.tag.startswith(f"{{{XSL}}}"):
            stylesheet.append(child)
    active = _active(schema)
    patterns = [
        p for p in schema.iter(_q(SCH, "pattern")) if active is None or p.get("id") in active
    ]
    for pattern in patterns:
        for let in pattern.findall(_q(SCH, "let")):
            etree.SubElement(
                stylesheet,
                _q(XSL, "variable"),
                name=str(let.get("name")),
                select=str(let.get("value")),
            )
    for let in schema.findall(_q(SCH, "let")):
        etree.SubElement(
            stylesheet, _q(XSL, "variable"), name=str(let.get("name")), select=str(let.get("value"))
        )
    main = etree.SubElement(stylesheet, _q(XSL, "template"), match="/")
    output = etree.SubElement(main, _q(SVRL, "schematron-output"), title=path.name)
    for i, pattern in enumerate(patterns):
        mode = f"M{i}"
        active_el = etree.SubElement(output, _q(SVRL, "active-pattern"))
        active_el.set("id", str(pattern.get("id") or mode))
        etree.SubElement(output, _q(XSL, "apply-templates"), select="/", mode=mode)
        rules = pattern.findall(_q(SCH, "rule"))
        for j, rule in enumerate(rules):
            _rule(stylesheet, rule, mode, 1000 + len(rules) - j)
        etree.SubElement(stylesheet, _q(XSL, "template"), match="text()", mode=mode, priority="-1")
        walk = etree.SubElement(
            stylesheet, _q(XSL, "template"), match="@*|node()", mode=mode, priority="-2"
        )
        etree.SubElement(walk, _q(XSL, "apply-templates"), select="@*|*", mode=mode)
    return bytes(etree.tostring(stylesheet, xml_declaration=True, encoding="UTF-8"))
