"""EANCOM code lists the hub checks (1001, 4343, 1153, 2005, 3035, 6063, 6411, 7143), as data.

Each list holds the codes the EANCOM 2002 subsets of the supported messages (ORDERS,
ORDRSP, DESADV, INVOIC, INVRPT, APERAK) use, widened with the UN/EDIFACT codes partners
commonly send in them; a value outside its list is reported with the list's number and the
code (syntax error 12; a warning under the ``lenient`` strictness). ``CODED_ELEMENTS`` says
where each list applies: (segment tag, element, component) -> list number. 1001 (document
name) is checked per message type. 2379 (date/time format) is ``directory.DATE_FORMATS``,
checked with the date itself.
"""

from __future__ import annotations


def _codes(text: str) -> frozenset[str]:
    return frozenset(text.split())


# 1001 document name code, per message type
DOCUMENT_NAMES: dict[str, frozenset[str]] = {
    "ORDERS": _codes(
        "105 220 221 224 225 226 227 228 22E 237 23E 258 400 401 402 50E YA8 YK1 YS8 "
        "320 248 242 245 246 247"
    ),
    "ORDRSP": _codes("231 230"),
    "DESADV": _codes("351 345 YA5 YB2 YB3 YD5 YE5"),
    "INVOIC": _codes(
        "380 381 383 384 385 386 389 390 393 325 326 80 82 83 84 261 262 457 527 532 "
        "35E 71E 72E 73E 74E 75E 76E 77E"
    ),
    "INVRPT": _codes("35 78 YA7 YB1 YC8 YD1 YK6"),
    "APERAK": _codes("305 313 7 9 YA0 YA1 23E 24E"),
}

# 4343 response type code (BGM element 4)
RESPONSE_TYPES = _codes("AA AB AC AI AP CA CO NA RE UN")

# 1153 reference code qualifier (RFF C506)
REFERENCE_QUALIFIERS = _codes(
    "AAB AAE AAG AAJ AAK AAM AAN AAS AAU AAV AAZ ABB ABO ABT ACD ACE ACH ACL ACW ADE AER "
    "AFO AGO AGW AHP AIL AIZ ALO ALQ ALZ AMT ANJ ANK AOK API ASI AWR BN BO CN CR CT CU DM "
    "DQ FC FF GN IA IL IP IT IV LI MA ON PD PK PL PP RF SRN SS TN UC VA VM VN XA YC1 ZZZ "
    "AAA AAC AAO ABE ADP AEU AHN AJY ALL AGN AJL AKG AFL AUO ADO AKO AAT AEP ACN DL"
)

# 2005 date or time or period function code qualifier (DTM C507)
DATE_QUALIFIERS = _codes(
    "1 2 3 4 7 9 10 11 12 13 15 17 18 35 36 37 38 44 50 54 63 64 69 76 89 90 91 94 95 "
    "97 110 111 117 118 119 123 124 126 129 131 132 133 134 135 137 138 140 143 150 151 "
    "153 155 156 157 158 159 167 168 171 175 178 179 186 191 194 197 198 200 206 209 228 "
    "235 242 263 265 267 273 282 290 291 292 293 294 318 324 325 326 331 351 352 358 359 "
    "361 364 366 367 368 369 402 416 417 418 419 420 454 483 484 506 633 635 656 789 "
    "36E 37E 38E 39E 40E 41E 42E 43E 44E 45E 46E 47E 48E 49E 50E 51E 52E 53E 54E 55E"
)

# 3035 party function code qualifier (NAD element 1)
PARTY_QUALIFIERS = _codes(
    "AB BCO BY CA CN CO CPD CZ DEQ DL DP DS FW GS HH II IV LC LD MF MP MR MS OB OP OS PB "
    "PC PE PK PR PW RE RH SB SE SF SN SR ST SU TD UC UD WH WS ZZZ 31 AA AE AF AP BA BP "
    "DO EX FP IM LP MA PM PX RB SG SI SO TR UP"
)

# 6063 quantity type code qualifier (QTY C186)
QUANTITY_QUALIFIERS = _codes(
    "1 3 11 12 13 15 17 21 33 45 46 47 48 52 53 54 57 59 61 66 71 73 74 78 83 91 113 "
    "124 131 133 134 143 145 160 164 165 187 188 189 192 193 194 198 199 200 201 202 203 "
    "211 212 213 21E 40E 41E 45E 59E 66E 117 129 170 180 192E 246 264 265 44 "
    "145E 79E 124E 78E"
)

# 6411 measurement unit code (UN/ECE recommendation 20, the units EANCOM users send)
MEASURE_UNITS = _codes(
    "PCE EA C62 H87 KGM GRM MGM TNE LTR MLT CLT DLT HLT MTR CMT MMT KMT DMT MTK CMK MMK "
    "MTQ CMQ DMQ MMQ KTM NAR NPR NMP PR PK CT BX CS BG BO CA DZN GRO SET PA PL PF RO TU "
    "HUR MIN SEC DAY WEE MON ANN KWH KWT WTT LBR ONZ INH FOT YRD GLL QT PT SQF SQY CUF "
    "NRL TNE MTS KMQ GRT NIU KGS KG LT M M2 M3 PCS"
)

# 7143 item type identification code (C212)
ITEM_TYPES = _codes(
    "EN SRV UP IN SA BP SN NB MF GB GN GU SRS SRT SRU SRV SRW SRX SRY SRZ ADU ANN BO "
    "CG CR DR EF HS MP PV SG ST UA VN VP VS ZZZ 5 IB"
)

LISTS: dict[str, frozenset[str]] = {
    "4343": RESPONSE_TYPES,
    "1153": REFERENCE_QUALIFIERS,
    "2005": DATE_QUALIFIERS,
    "3035": PARTY_QUALIFIERS,
    "6063": QUANTITY_QUALIFIERS,
    "6411": MEASURE_UNITS,
    "7143": ITEM_TYPES,
}

NAMES: dict[str, str] = {
    "1001": "document name code",
    "4343": "response type code",
    "1153": "reference code qualifier",
    "2005": "date/time/period function code qualifier",
    "3035": "party function code qualifier",
    "6063": "quantity type code qualifier",
    "6411": "measurement unit code",
    "7143": "item type identification code",
}

# (segment tag, element, component) -> code list, for every list but 1001
CODED_ELEMENTS: dict[str, tuple[tuple[int, int, str], ...]] = {
    "BGM": ((4, 1, "4343"),),
    "RFF": ((1, 1, "1153"),),
    "DTM": ((1, 1, "2005"),),
    "NAD": ((1, 1, "3035"),),
    "QTY": ((1, 1, "6063"), (1, 3, "6411")),
    "LIN": ((3, 2, "7143"),),
    "PIA": tuple((element, 2, "7143") for element in range(2, 7)),
    "PRI": ((1, 6, "6411"),),
    "CNT": ((1, 3, "6411"),),
}

# ISO 4217 currency codes (CUX 6345), as pycountry lists them; a unit test keeps the two equal
# (a table here because importing pycountry costs more than `hub edi validate` on a small file)
CURRENCIES = _codes(
    "AED AFN ALL AMD AOA ARS AUD AWG AZN BAM BBD BDT BHD BIF BMD BND BOB BOV BRL BSD BTN "
    "BWP BYN BZD CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUP CVE CZK DJF DKK DOP DZD "
    "EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR "
    "IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD "
    "MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD "
    "OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE "
    "SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD USN UYI "
    "UYU UYW UZS VED VES VND VUV WST XAD XAF XAG XAU XBA XBB XBC XBD XCD XCG XDR XOF XPD "
    "XPF XPT XSU XTS XUA XXX YER ZAR ZMW ZWG "
)
