"""EDIFACT directory data as tables: message structures, segment layouts, code lists.

Facts (segment groups, min/max repeats, element formats) are taken from the UN/EDIFACT D96A
and D01B directories as written down in bots-edi/bots-grammars (``edifact/D96A/*D96AUN.py``,
``edifact/D01B/ORDERSD01BUN.py``); CONTRL from ISO 9735. The EANCOM subsets (ORDERS EAN008 /
EAN010, DESADV EAN007, INVOIC EAN008) are checked against the UN structure they restrict
plus the EANCOM rules in ``connectors.edi.rules``. Structures are data: one indented text
block per message, ``TAG MIN MAX``, a deeper indent for the segments of a group whose
trigger is the line above. The types and the parser live in ``directory_model``; which
structure a message type has is ``rules_structure.structure_for``.
"""

from __future__ import annotations

from connectors.edi.directory_model import (
    Composite,
    ElementSpec,
    Level,
    MessageStructure,
    Node,
    Simple,
    parse_structure,
    structure,
)
from connectors.edi.directory_model import composite as _c
from connectors.edi.directory_model import simple as _s

__all__ = [
    "AGENCY_GS1",
    "DATE_FORMATS",
    "GLN_PARTIES",
    "GTIN_ITEM_TYPES",
    "SEGMENTS",
    "STRUCTURES",
    "Composite",
    "ElementSpec",
    "Level",
    "MessageStructure",
    "Node",
    "Simple",
    "parse_structure",
]

# ---------------------------------------------------------------------------------------
# message structures (the body between UNH and UNT)

_ORDERS_D96A = """
BGM 1 1
DTM 1 35
PAI 0 1
ALI 0 5
IMD 0 1
FTX 0 99
RFF 0 10
  DTM 0 5
NAD 0 99
  LOC 0 25
  FII 0 5
  RFF 0 10
    DTM 0 5
  DOC 0 5
    DTM 0 5
  CTA 0 5
    COM 0 5
TAX 0 5
  MOA 0 1
  LOC 0 5
CUX 0 5
  PCD 0 5
  DTM 0 5
PAT 0 10
  DTM 0 5
  PCD 0 1
  MOA 0 1
TDT 0 10
  LOC 0 10
    DTM 0 5
TOD 0 5
  LOC 0 2
PAC 0 10
  MEA 0 5
  PCI 0 5
    RFF 0 1
    DTM 0 5
    GIN 0 10
EQD 0 10
  HAN 0 5
  MEA 0 5
  FTX 0 5
SCC 0 10
  FTX 0 5
  RFF 0 5
  QTY 0 10
    DTM 0 5
APR 0 25
  DTM 0 5
  RNG 0 1
ALC 0 15
  ALI 0 5
  DTM 0 5
  QTY 0 1
    RNG 0 1
  PCD 0 1
    RNG 0 1
  MOA 0 2
    RNG 0 1
  RTE 0 1
    RNG 0 1
  TAX 0 5
    MOA 0 1
RCS 0 100
  RFF 0 5
  DTM 0 5
  FTX 0 5
LIN 0 200000
  PIA 0 25
  IMD 0 99
  MEA 0 5
  QTY 0 10
  PCD 0 5
  ALI 0 5
  DTM 0 35
  MOA 0 10
  GIN 0 1000
  GIR 0 1000
  QVR 0 1
  DOC 0 5
  PAI 0 1
  FTX 0 99
  CCI 0 999
    CAV 0 10
    MEA 0 10
  PAT 0 10
    DTM 0 5
    PCD 0 1
    MOA 0 1
  PRI 0 25
    CUX 0 1
    APR 0 1
    RNG 0 1
    DTM 0 5
  RFF 0 10
    DTM 0 5
  PAC 0 10
    MEA 0 5
    QTY 0 5
    DTM 0 5
    RFF 0 1
      DTM 0 5
    PCI 0 5
      RFF 0 1
      DTM 0 5
      GIN 0 10
  LOC 0 9999
    QTY 0 1
    DTM 0 5
  TAX 0 10
    MOA 0 1
    LOC 0 5
  NAD 0 99
    LOC 0 5
    RFF 0 5
      DTM 0 5
    DOC 0 5
      DTM 0 5
    CTA 0 5
      COM 0 5
  ALC 0 99
    ALI 0 5
    DTM 0 5
    QTY 0 1
      RNG 0 1
    PCD 0 1
      RNG 0 1
    MOA 0 2
      RNG 0 1
    RTE 0 1
      RNG 0 1
    TAX 0 5
      MOA 0 1
  TDT 0 10
    LOC 0 10
      DTM 0 5
  TOD 0 5
    LOC 0 2
  EQD 0 10
    HAN 0 5
    MEA 0 5
    FTX 0 5
  SCC 0 100
    FTX 0 5
    RFF 0 5
    QTY 0 10
      DTM 0 5
  RCS 0 100
    RFF 0 5
    DTM 0 5
    FTX 0 5
  STG 0 10
    QTY 0 3
      MOA 0 1
UNS 1 1
MOA 0 12
CNT 0 10
ALC 0 10
  ALI 0 1
  MOA 1 2
"""


def _variant(base: str, *edits: tuple[str, str]) -> str:
    """A structure written as another one with a few lines changed: each (old, new) pair
    replaces text that occurs exactly once in ``base``."""
    text = base
    for old, new in edits:
        if text.count(old) != 1:
            raise ValueError(f"structure edit {old!r} does not match exactly once")
        text = text.replace(old, new)
    return text


# ORDRSP D96A: ORDERS D96A plus AJT groups (header and line), more GINs and line RFFs; the
# lines echo the order's LIN groups.
_ORDRSP_D96A = _variant(
    _ORDERS_D96A,
    ("RFF 0 10\n  DTM 0 5\nNAD 0 99\n", "RFF 0 10\n  DTM 0 5\nAJT 0 1\n  FTX 0 5\nNAD 0 99\n"),
    ("\n    GIN 0 10\nEQD 0 10\n", "\n    GIN 0 99\nEQD 0 10\n"),
    ("    MOA 0 1\n  PRI 0 25\n", "    MOA 0 1\n  AJT 0 1\n    FTX 0 5\n  PRI 0 25\n"),
    ("\n  RFF 0 10\n    DTM 0 5\n  PAC 0 10\n", "\n  RFF 0 999\n    DTM 0 5\n  PAC 0 10\n"),
    ("\n      GIN 0 10\n", "\n      GIN 0 99\n"),
)

# ORDERS D01B: ORDERS D96A with the D01B directory's repeats and added groups.
_ORDERS_D01B = _variant(
    _ORDERS_D96A,
    ("ALI 0 5\nIMD 0 1\nFTX 0 99\n", "ALI 0 5\nIMD 0 999\nFTX 0 99\n"),
    ("FTX 0 99\nRFF 0 10\n  DTM 0 5\n", "FTX 0 99\nGIR 0 10\nRFF 0 9999\n  DTM 0 5\n"),
    ("NAD 0 99\n  LOC 0 25\n  FII 0 5\n", "NAD 0 99\n  LOC 0 99\n  FII 0 5\n"),
    ("  FII 0 5\n  RFF 0 10\n    DTM 0 5\n", "  FII 0 5\n  RFF 0 99\n    DTM 0 5\n"),
    ("  MOA 0 1\n  LOC 0 5\nCUX 0 5\n", "  MOA 0 1\n  LOC 0 9\nCUX 0 5\n"),
    (
        "  PCD 0 1\n  MOA 0 1\nTDT 0 10\n",
        "  PCD 0 1\n  MOA 0 9999\n    GIR 0 9\n    RJL 0 99\nTDT 0 10\n",
    ),
    ("  LOC 0 2\nPAC 0 10\n  MEA 0 5\n", "  LOC 0 2\nPAC 0 99\n  MEA 0 5\n"),
    ("  RNG 0 1\nALC 0 15\n  ALI 0 5\n", "  RNG 0 1\nALC 0 99\n  ALI 0 5\n"),
    ("    MOA 0 1\nRCS 0 100\n  RFF 0 5\n", "    MOA 0 1\nRCS 0 999\n  RFF 0 5\n"),
    ("  DTM 0 5\n  FTX 0 5\n", "  DTM 0 5\n  FTX 0 99999\nDGS 0 999\n  FTX 0 5\n"),
    ("  FTX 0 5\nLIN 0 200000\n", "  FTX 0 5\n  CTA 0 99\n    COM 0 5\nLIN 0 200000\n"),
    (
        "  IMD 0 99\n  MEA 0 5\n  QTY 0 10\n  PCD 0 5\n",
        "  IMD 0 99\n  MEA 0 99\n  QTY 0 99\n  PCD 0 5\n",
    ),
    ("  MOA 0 10\n  GIN 0 1000\n", "  MOA 0 10\n  GIS 0 99\n  GIN 0 1000\n"),
    ("  QVR 0 1\n  DOC 0 5\n  PAI 0 1\n", "  QVR 0 1\n  DOC 0 99\n  PAI 0 1\n"),
    ("  PAI 0 1\n  FTX 0 99\n", "  PAI 0 1\n  MTD 0 99\n  FTX 0 99\n"),
    (
        "    PCD 0 1\n    MOA 0 1\n  PRI 0 25\n",
        "    PCD 0 1\n    MOA 0 9999\n      GIR 0 9\n  PRI 0 25\n",
    ),
    ("    CUX 0 1\n    APR 0 1\n    RNG 0 1\n", "    CUX 0 1\n    APR 0 99\n    RNG 0 1\n"),
    ("    DTM 0 5\n  RFF 0 10\n    DTM 0 5\n", "    DTM 0 5\n  RFF 0 9999\n    DTM 0 5\n"),
    (
        "    DTM 0 5\n  PAC 0 10\n    MEA 0 5\n",
        "    DTM 0 5\n    GIS 0 99\n    MOA 0 99\n  PAC 0 99\n    MEA 0 5\n",
    ),
    ("    QTY 0 1\n    DTM 0 5\n", "    QTY 0 1\n    PCD 0 1\n    DTM 0 5\n"),
    ("    LOC 0 5\n  NAD 0 99\n    LOC 0 5\n", "    LOC 0 5\n  NAD 0 999\n    LOC 0 5\n"),
    (
        "    LOC 0 5\n    RFF 0 5\n      DTM 0 5\n",
        "    LOC 0 5\n    FII 0 5\n    RFF 0 99\n      DTM 0 5\n",
    ),
    ("      DTM 0 5\n  RCS 0 100\n    RFF 0 5\n", "      DTM 0 5\n  RCS 0 999\n    RFF 0 5\n"),
    ("    DTM 0 5\n    FTX 0 5\n  STG 0 10\n", "    DTM 0 5\n    FTX 0 99999\n  STG 0 10\n"),
    (
        "      MOA 0 1\nUNS 1 1\n",
        "      MOA 0 1\n  DGS 0 999\n    FTX 0 5\n    CTA 0 99\n      COM 0 5\nUNS 1 1\n",
    ),
    ("UNS 1 1\nMOA 0 12\nCNT 0 10\n", "UNS 1 1\nMOA 0 99\nCNT 0 10\n"),
)

_DESADV_D96A = """
BGM 1 1
DTM 0 10
ALI 0 5
MEA 0 5
MOA 0 5
RFF 0 10
  DTM 0 1
NAD 0 10
  LOC 0 10
  RFF 0 10
    DTM 0 1
  CTA 0 10
    COM 0 5
TOD 0 10
  LOC 0 5
  FTX 0 5
TDT 0 10
  PCD 0 6
  LOC 0 10
    DTM 0 10
EQD 0 10
  MEA 0 5
  SEL 0 25
  EQA 0 5
  HAN 0 10
    FTX 0 10
CPS 0 9999
  FTX 0 5
  PAC 0 9999
    MEA 0 10
    QTY 0 10
    HAN 0 10
      FTX 0 10
    PCI 0 1000
      RFF 0 1
      DTM 0 5
      GIR 0 99
      GIN 0 99
        DLM 0 10
  LIN 0 9999
    PIA 0 10
    IMD 0 25
    MEA 0 10
    QTY 0 10
    ALI 0 10
    GIN 0 100
    GIR 0 100
    DLM 0 100
    DTM 0 5
    FTX 0 5
    MOA 0 5
    RFF 0 10
      DTM 0 1
    DGS 0 10
      QTY 0 1
      FTX 0 5
    LOC 0 100
      NAD 0 1
      DTM 0 1
      QTY 0 10
    SGP 0 1000
      QTY 0 10
    PCI 0 9999
      DTM 0 5
      MEA 0 10
      QTY 0 1
      GIN 0 10
        DLM 0 100
      HAN 0 10
        FTX 0 5
        GIN 0 1000
    QVR 0 10
      DTM 0 5
CNT 0 5
"""

_INVOIC_D96A = """
BGM 1 1
DTM 1 35
PAI 0 1
ALI 0 5
IMD 0 1
FTX 0 10
RFF 0 99
  DTM 0 5
NAD 0 99
  LOC 0 25
  FII 0 5
  RFF 0 9999
    DTM 0 5
  DOC 0 5
    DTM 0 5
  CTA 0 5
    COM 0 5
TAX 0 5
  MOA 0 1
  LOC 0 5
CUX 0 5
  DTM 0 5
PAT 0 10
  DTM 0 5
  PCD 0 1
  MOA 0 1
  PAI 0 1
  FII 0 1
TDT 0 10
  LOC 0 10
    DTM 0 5
  RFF 0 9999
    DTM 0 5
TOD 0 5
  LOC 0 2
PAC 0 1000
  MEA 0 5
  PCI 0 5
    RFF 0 1
    DTM 0 5
    GIN 0 5
ALC 0 9999
  ALI 0 5
  RFF 0 5
    DTM 0 5
  QTY 0 1
    RNG 0 1
  PCD 0 1
    RNG 0 1
  MOA 0 2
    RNG 0 1
  RTE 0 1
    RNG 0 1
  TAX 0 5
    MOA 0 1
RCS 0 100
  RFF 0 5
  DTM 0 5
  FTX 0 5
AJT 0 1
  FTX 0 5
INP 0 1
  FTX 0 5
LIN 0 9999999
  PIA 0 25
  IMD 0 10
  MEA 0 5
  QTY 0 5
  PCD 0 1
  ALI 0 5
  DTM 0 35
  GIN 0 1000
  GIR 0 1000
  QVR 0 1
  EQD 0 1
  FTX 0 5
  MOA 0 5
    CUX 0 1
  PAT 0 10
    DTM 0 5
    PCD 0 1
    MOA 0 1
  PRI 0 25
    APR 0 1
    RNG 0 1
    DTM 0 5
  RFF 0 10
    DTM 0 5
  PAC 0 10
    MEA 0 10
    PCI 0 10
      RFF 0 1
      DTM 0 5
      GIN 0 10
  LOC 0 9999
    QTY 0 100
    DTM 0 5
  TAX 0 99
    MOA 0 1
    LOC 0 5
  NAD 0 20
    LOC 0 5
    RFF 0 5
      DTM 0 5
    DOC 0 5
      DTM 0 5
    CTA 0 5
      COM 0 5
  ALC 0 15
    ALI 0 5
    DTM 0 5
    QTY 0 1
      RNG 0 1
    PCD 0 1
      RNG 0 1
    MOA 0 2
      RNG 0 1
    RTE 0 1
      RNG 0 1
    TAX 0 5
      MOA 0 1
  TDT 0 10
    LOC 0 10
      DTM 0 5
  TOD 0 5
    LOC 0 2
  RCS 0 100
    RFF 0 5
    DTM 0 5
    FTX 0 5
UNS 1 1
CNT 0 10
MOA 1 100
  RFF 0 1
    DTM 0 5
TAX 0 10
  MOA 0 2
ALC 0 15
  ALI 0 1
  MOA 0 2
"""

_INVRPT_D96A = """
BGM 1 1
DTM 1 10
RFF 0 10
  DTM 0 1
NAD 0 20
  LOC 0 5
  RFF 0 10
    DTM 0 1
  CTA 0 10
    COM 0 5
CUX 0 5
  DTM 0 1
CPS 0 9999
  PAC 0 999
    PCI 0 1000
    QTY 0 9999
      GIN 0 9999
      DTM 0 5
LIN 0 9999
  PIA 0 10
  IMD 0 10
  MEA 0 10
  ALI 0 10
  LOC 0 5
  DTM 0 5
  RFF 0 10
    DTM 0 1
  QTY 0 9999
    INV 0 1
    GIN 0 9999
    LOC 0 5
    DTM 0 5
    STS 0 9
    NAD 0 5
      LOC 0 1
    PRI 0 5
      CUX 0 1
      DTM 0 1
    RFF 0 10
      DTM 0 1
    CPS 0 9999
      PAC 0 9999
        MEA 0 10
        QTY 0 10
        PCI 0 9999
          RFF 0 1
          DTM 0 5
          GIN 0 9999
"""

_APERAK_D96A = """
BGM 1 1
DTM 0 9
FTX 0 9
CNT 0 9
RFF 0 9
  DTM 0 9
NAD 0 9
  CTA 0 9
  COM 0 9
ERC 0 999
  FTX 0 1
  RFF 0 1
    FTX 0 9
"""

# CONTRL (ISO 9735 syntax service message): interchange response, message responses,
# segment and data element errors; UCF groups answer functional groups.
_CONTRL = """
UCI 1 1
UCM 0 999
  UCS 0 999
    UCD 0 99
UCF 0 999
  UCM 0 999
    UCS 0 999
      UCD 0 99
"""


# Keyed by UNH S009 type:version:release (the agency is UN for all of them).
STRUCTURES: dict[str, MessageStructure] = {
    s.key: s
    for s in (
        structure("ORDERS:D:96A", _ORDERS_D96A, "purchase order D96A"),
        structure("ORDERS:D:01B", _ORDERS_D01B, "purchase order D01B"),
        structure("ORDRSP:D:96A", _ORDRSP_D96A, "purchase order response D96A"),
        # ORDCHG D96A has the ORDERS D96A groups (LIN 1229 carries the line action)
        structure("ORDCHG:D:96A", _ORDERS_D96A, "purchase order change D96A"),
        structure("ORDCHG:D:01B", _ORDERS_D01B, "purchase order change D01B"),
        structure("APERAK:D:01B", _APERAK_D96A, "application error and acknowledgement D01B"),
        structure("DESADV:D:96A", _DESADV_D96A, "despatch advice D96A"),
        structure("INVOIC:D:96A", _INVOIC_D96A, "invoice D96A"),
        structure("INVRPT:D:96A", _INVRPT_D96A, "inventory report D96A"),
        structure("APERAK:D:96A", _APERAK_D96A, "application error and acknowledgement D96A"),
        structure("CONTRL:D:3", _CONTRL, "syntax and service report (ISO 9735 v3)"),
        structure("CONTRL:2:2", _CONTRL, "syntax and service report (EANCOM 2:2)"),
        structure("CONTRL:D:4", _CONTRL, "syntax and service report (ISO 9735 v4)"),
        structure("CONTRL:4:1", _CONTRL, "syntax and service report (ISO 9735 v4, 4:1)"),
    )
}


# ---------------------------------------------------------------------------------------
# segment layouts (data element formats) for the segments the hub reads or writes

_C212 = ("7140 an..35", "7143 an..3", "1131 an..3", "3055 an..3")

SEGMENTS: dict[str, tuple[ElementSpec, ...]] = {
    "BGM": (
        _c("C002", "1001 an..3", "1131 an..3", "3055 an..3", "1000 an..35"),
        _s("1004 an..35"),
        _s("1225 an..3"),
        _s("4343 an..3"),
    ),
    "DTM": (_c("C507", "2005 an..3 M", "2380 an..35", "2379 an..3", m=True),),
    "NAD": (
        _s("3035 an..3 M"),
        _c("C082", "3039 an..35 M", "1131 an..3", "3055 an..3"),
        _c("C058", *["3124 an..35"] * 5),
        _c("C080", *["3036 an..35"] * 5, "3045 an..3"),
        _c("C059", *["3042 an..35"] * 4),
        _s("3164 an..35"),
        _s("3229 an..9"),
        _s("3251 an..9"),
        _s("3207 an..3"),
    ),
    "LIN": (
        _s("1082 n..6"),
        _s("1229 an..3"),
        _c("C212", *_C212),
        _c("C829", "5495 an..3 M", "1082 n..6"),
        _s("1222 n..2"),
        _s("7083 an..3"),
    ),
    "PIA": (_s("4347 an..3 M"), *(_c("C212", *_C212, m=i == 0) for i in range(5))),
    "IMD": (
        _s("7077 an..3"),
        _s("7081 an..3"),
        _c(
            "C273",
            "7009 an..17",
            "1131 an..3",
            "3055 an..3",
            "7008 an..35",
            "7008 an..35",
            "3453 an..3",
        ),
        _s("7383 an..3"),
    ),
    "QTY": (_c("C186", "6063 an..3 M", "6060 n..15 M", "6411 an..3", m=True),),
    "PRI": (
        _c(
            "C509",
            "5125 an..3 M",
            "5118 n..15",
            "5375 an..3",
            "5387 an..3",
            "5284 n..9",
            "6411 an..3",
            m=True,
        ),
        _s("5213 an..3"),
    ),
    "CUX": (
        _c("C504", "6347 an..3 M", "6345 an..3", "6343 an..3", "6348 n..4"),
        _c("C504", "6347 an..3 M", "6345 an..3", "6343 an..3", "6348 n..4"),
        _s("5402 n..12"),
        _s("6341 an..3"),
    ),
    "RFF": (_c("C506", "1153 an..3 M", "1154 an..35", "1156 an..6", "4000 an..35", m=True),),
    "FTX": (
        _s("4451 an..3 M"),
        _s("4453 an..3"),
        _c("C107", "4441 an..17 M", "1131 an..3", "3055 an..3"),
        _c("C108", *["4440 an..70"] * 5),
        _s("3453 an..3"),
    ),
    "MOA": (
        _c("C516", "5025 an..3 M", "5004 n..18", "6345 an..3", "6343 an..3", "4405 an..3", m=True),
    ),
    "UNS": (_s("0081 a1 M"),),
    "CNT": (_c("C270", "6069 an..3 M", "6066 n..18 M", "6411 an..3", m=True),),
    "ERC": (_c("C901", "9321 an..8 M", "1131 an..3", "3055 an..3", m=True),),
}

# ---------------------------------------------------------------------------------------
# code lists the mapping relies on

# 2379 date/time/period format qualifiers the hub can read, with the value's shape.
# Periods (718, 719) are read with or without the hyphen: GS1's own EANCOM examples write
# DTM+35:2002021220020312:718.
DATE_FORMATS: dict[str, str] = {
    "101": "YYMMDD",
    "102": "CCYYMMDD",
    "201": "YYMMDDHHMM",
    "203": "CCYYMMDDHHMM",
    "204": "CCYYMMDDHHMMSS",
    "602": "CCYY",
    "610": "CCYYMM",
    "616": "CCYYWW",
    "718": "CCYYMMDD-CCYYMMDD",
    "719": "CCYYMMDDHHMM-CCYYMMDDHHMM",
}

# 7143 item number type codes that carry a GTIN (EN: EAN-13 in D96A, SRV: GS1 GTIN later).
GTIN_ITEM_TYPES = frozenset({"EN", "SRV", "UP"})

# 3035 party qualifiers whose identification the mapping resolves by GLN.
GLN_PARTIES = frozenset({"BY", "SU", "DP", "IV", "UC", "SN", "ST"})

# 3055 code list responsible agency 9 = GS1 (EAN): party/item identifications are GLN/GTIN.
AGENCY_GS1 = "9"
