"""A structural PDF/A-3 check of an invoice PDF (pypdf): the clauses of ISO 19005-3 we can see.

Not a replacement for veraPDF (no font program or colour-space analysis): it checks the
header, the trailer (file identifier, no encryption), the sRGB/ICC OutputIntent, the XMP
identification (pdfaid part 3) and its agreement with the Info dictionary, embedded fonts
with a ToUnicode map, no JavaScript, no transparency, and the embedded files' association
(AFRelationship, MIME subtype, catalog /AF). Rule ids are the clause numbers.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

from lxml import etree

from connectors.einvoice.svrl import Finding

SOURCE = "PDF/A-3"
_XMP = {
    "pdfaid": "http://www.aiim.org/pdfa/ns/id/",
    "dc": "http://purl.org/dc/elements/1.1/",
    "pdf": "http://ns.adobe.com/pdf/1.3/",
    "xmp": "http://ns.adobe.com/xap/1.0/",
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
}
# Info dictionary entry -> its XMP twin (ISO 19005-3, 6.6.2.3.1)
_TWINS = {
    "/Title": "dc:title",
    "/Author": "dc:creator",
    "/Subject": "dc:description",
    "/Keywords": "pdf:Keywords",
    "/Creator": "xmp:CreatorTool",
    "/Producer": "pdf:Producer",
}


def _error(rule: str, where: str, text: str) -> Finding:
    return Finding(f"PDFA-{rule}", "error", where, text, SOURCE)


def _warning(rule: str, where: str, text: str) -> Finding:
    return Finding(f"PDFA-{rule}", "warning", where, text, SOURCE)


def check_pdfa3(data: bytes) -> list[Finding]:
    """Every structural PDF/A-3 fault found in ``data`` (empty: none found)."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    findings = list(_header(data))
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            return [*findings, _error("6.1.3", "trailer", "the PDF is encrypted (/Encrypt)")]
        root = reader.trailer["/Root"].get_object()
        findings += _trailer(reader.trailer)
        findings += _output_intent(root)
        findings += _metadata(root, reader.trailer)
        findings += _scripts(root)
        findings += _files(root)
        for n, page in enumerate(reader.pages, start=1):
            findings += _page(page, f"page {n}")
    except (PdfReadError, KeyError, ValueError, TypeError) as exc:
        findings.append(_error("6.1", "/", f"cannot read the PDF structure: {exc}"))
    return findings


def _header(data: bytes) -> Iterator[Finding]:
    first, _, rest = data.partition(b"\n")
    if not (first.startswith(b"%PDF-1.") and first[7:8].isdigit() and len(first.strip()) == 8):
        yield _error("6.1.2", "header", f"header {first[:12]!r} is not %PDF-1.n")
    comment = rest.split(b"\n", 1)[0]
    if not (comment.startswith(b"%") and sum(b > 127 for b in comment[1:5]) == 4):
        yield _error("6.1.2", "header", "no binary comment (4 bytes above 127) after the header")


def _trailer(trailer: Any) -> Iterator[Finding]:
    ids = trailer.get("/ID")
    if not ids or len(ids) != 2:
        yield _error("6.1.3", "trailer", "no file identifier (/ID)")


def _output_intent(root: Any) -> Iterator[Finding]:
    intents = [i.get_object() for i in root.get("/OutputIntents", [])]
    pdfa = [i for i in intents if i.get("/S") == "/GTS_PDFA1"]
    if not pdfa:
        yield _error("6.2.3", "/Catalog/OutputIntents", "no GTS_PDFA1 OutputIntent")
        return
    profile = pdfa[0].get("/DestOutputProfile")
    icc = profile.get_object().get_data() if profile is not None else b""
    if icc[36:40] != b"acsp":
        yield _error("6.2.3", "/OutputIntents/DestOutputProfile", "no valid ICC profile")
    elif profile.get_object().get("/N") not in (1, 3, 4):
        yield _error("6.2.3", "/OutputIntents/DestOutputProfile", "/N is not 1, 3 or 4")


def _xmp_text(tree: etree._Element, name: str) -> str | None:
    prefix, local = name.split(":")
    ns = _XMP[prefix]
    for desc in tree.iter(f"{{{_XMP['rdf']}}}Description"):
        value = desc.get(f"{{{ns}}}{local}")
        if value is not None:
            return value
        node = desc.find(f"{{{ns}}}{local}")
        if node is not None:
            return " ".join(node.itertext()).strip()
    return None


def _metadata(root: Any, trailer: Any) -> Iterator[Finding]:
    stream = root.get("/Metadata")
    if stream is None:
        yield _error("6.6.2.1", "/Catalog", "no XMP metadata stream")
        return
    stream = stream.get_object()
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    try:
        tree = etree.fromstring(stream.get_data(), parser=parser)
    except etree.XMLSyntaxError as exc:
        yield _error("6.6.2.1", "/Catalog/Metadata", f"XMP is not well-formed: {exc}")
        return
    part, conformance = _xmp_text(tree, "pdfaid:part"), _xmp_text(tree, "pdfaid:conformance")
    if part != "3" or conformance not in ("A", "B", "U"):
        yield _error(
            "6.6.4", "/Catalog/Metadata", f"pdfaid part {part!r} conformance {conformance!r}"
        )
    info = trailer.get("/Info")
    for key, twin in _TWINS.items():
        value = info.get_object().get(key) if info is not None else None
        if value is not None and str(value).strip() != (_xmp_text(tree, twin) or "").strip():
            yield _error("6.6.2.3.1", f"/Info{key}", f"{key} {str(value)!r} differs from {twin}")


def _scripts(root: Any) -> Iterator[Finding]:
    names = root.get("/Names")
    if names is not None and "/JavaScript" in names.get_object():
        yield _error("6.6.1", "/Catalog/Names", "JavaScript name tree")
    action = root.get("/OpenAction")
    action = action.get_object() if action is not None else None
    if isinstance(action, dict) and action.get("/S") in ("/JavaScript", "/Launch"):
        yield _error("6.6.1", "/Catalog/OpenAction", f"forbidden action {action.get('/S')}")
    if "/AA" in root:
        yield _error("6.6.2", "/Catalog", "additional actions (/AA)")


def _files(root: Any) -> Iterator[Finding]:
    names = root.get("/Names")
    tree = names.get_object().get("/EmbeddedFiles") if names is not None else None
    flat = list(tree.get_object().get("/Names", [])) if tree is not None else []
    associated = {id(a.get_object()) for a in root.get("/AF", [])}
    for name, spec in zip(flat[::2], flat[1::2], strict=False):
        spec = spec.get_object()
        where = f"embedded file {name}"
        if "/AFRelationship" not in spec:
            yield _error("6.8", where, "no /AFRelationship")
        if not {"/F", "/UF"} <= set(spec):
            yield _error("6.8", where, "the file specification lacks /F or /UF")
        ef = spec.get("/EF", {}).get("/F")
        if ef is None or "/Subtype" not in ef.get_object():
            yield _error("6.8", where, "the embedded stream has no MIME /Subtype")
        if id(spec) not in associated:
            yield _error("6.8", where, "not associated with the document (catalog /AF)")


def _fonts(resources: Any) -> Iterator[tuple[str, Any]]:
    fonts = resources.get("/Font") if resources is not None else None
    for key, font in fonts.get_object().items() if fonts is not None else ():
        yield str(key), font.get_object()
    xobjects = resources.get("/XObject") if resources is not None else None
    for xobject in xobjects.get_object().values() if xobjects is not None else ():
        form = xobject.get_object()
        if form.get("/Subtype") == "/Form" and "/Resources" in form:
            yield from _fonts(form["/Resources"].get_object())


def _page(page: Any, where: str) -> Iterator[Finding]:
    resources = page.get("/Resources")
    resources = resources.get_object() if resources is not None else None
    for key, font in _fonts(resources):
        if font.get("/Subtype") == "/Type3":
            continue
        descendants = font.get("/DescendantFonts")
        descendant = descendants[0].get_object() if descendants else font
        descriptor = descendant.get("/FontDescriptor")
        descriptor = descriptor.get_object() if descriptor is not None else {}
        name = f"{where} font {key} ({font.get('/BaseFont')})"
        if not {"/FontFile", "/FontFile2", "/FontFile3"} & set(descriptor):
            yield _error("6.2.11.4.1", name, "the font program is not embedded")
        if "/ToUnicode" not in font:
            yield _warning("6.2.11.7.2", name, "no ToUnicode map (text cannot be extracted)")
    states = resources.get("/ExtGState") if resources is not None else None
    for key, state in states.get_object().items() if states is not None else ():
        state = state.get_object()
        soft = state.get("/SMask", "/None") != "/None"
        if soft or state.get("/CA", 1) != 1 or state.get("/ca", 1) != 1:
            yield _warning("6.2.10", f"{where} ExtGState {key}", "transparency is used")
    if "/AA" in page:
        yield _error("6.6.2", where, "additional actions (/AA)")
