"""Generator of varied EANCOM ORDERS D96A interchanges for the codec benchmarks.

Every message differs from the others, as real partner files do: its own buyer, supplier
and delivery GLNs (valid GS1 check digits), 2-6 lines with their own GTINs, quantities,
prices, item numbers, order and delivery dates, and free text in which every message has
at least one released service character (``?+``, ``?:``, ``?'`` or ``??``). Values come from
a seeded ``random.Random``, so a seed always gives the same bytes. ``repetitive`` gives
the old benchmark's shape instead: the same three GLNs, a 200-GTIN catalogue, the same
free text without release characters (what a per-text cache makes fast).

    .venv/bin/python bench/edi_gen.py --messages 10000 [--seed 13] [--repetitive] OUT.edi
"""

from __future__ import annotations

import argparse
import random
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

from stdnum import ean

_WORDS = [
    "ramp",
    "dock",
    "gate",
    "north",
    "south",
    "door",
    "call",
    "before",
    "after",
    "delivery",
    "pallet",
    "carton",
    "urgent",
    "fragile",
    "keep",
    "dry",
    "store",
    "cool",
    "ask",
    "for",
    "mr",
    "ms",
    "warehouse",
    "shop",
    "floor",
    "level",
    "back",
    "office",
]
_RELEASED = ("?+", "?:", "?'", "??")
_UNITS = ("PCE", "KGM", "LTR", "MTR", "PCE", "PCE")


def _gs1(rng: random.Random, digits: int, prefix: str = "") -> str:
    body = prefix + "".join(rng.choice("0123456789") for _ in range(digits - 1 - len(prefix)))
    return body + ean.calc_check_digit(body)


def _text(rng: random.Random) -> str:
    words = [rng.choice(_WORDS).upper() for _ in range(rng.randint(3, 8))]
    at = rng.randrange(len(words))
    words[at] = words[at] + rng.choice(_RELEASED) + str(rng.randint(1, 99))
    return " ".join(words)[:70]


def varied_message(rng: random.Random, n: int) -> str:
    """One ORDERS message (UNH..UNT) whose values are all drawn from ``rng``."""
    ordered = date(2024, 1, 1) + timedelta(days=rng.randrange(700))
    wanted = ordered + timedelta(days=rng.randint(1, 30))
    body = [
        f"BGM+220+PO{rng.randrange(10**9):09d}+9",
        f"DTM+137:{ordered:%Y%m%d}:102",
        f"DTM+2:{wanted:%Y%m%d}{rng.randint(6, 18):02d}00:203",
        f"FTX+ZZZ+++{_text(rng)}",
        f"RFF+CR:C{rng.randrange(10**7)}",
        f"NAD+BY+{_gs1(rng, 13, '40')}::9",
        f"NAD+SU+{_gs1(rng, 13, '43')}::9",
        f"NAD+DP+{_gs1(rng, 13, '40')}::9",
        "CUX+2:EUR:9",
    ]
    lines = rng.randint(2, 6)
    for line in range(1, lines + 1):
        body += [
            f"LIN+{line}++{_gs1(rng, 13, '4')}:EN",
            f"PIA+1+A{rng.randrange(10**6):06d}:SA",
            f"QTY+21:{rng.randint(1, 500)}:{rng.choice(_UNITS)}",
            f"PRI+AAA:{rng.randint(0, 999)}.{rng.randint(0, 99):02d}",
        ]
    body += ["UNS+S", f"MOA+86:{rng.randint(1, 99999)}.{rng.randint(0, 99):02d}"]
    body.append(f"CNT+2:{lines}")
    segs = [f"UNH+{n}+ORDERS:D:96A:UN:EAN008", *body, f"UNT+{len(body) + 2}+{n}"]
    return "'\n".join(segs) + "'\n"


_GTINS = [g + ean.calc_check_digit(g) for g in (f"400000000{i:03d}" for i in range(200))]


def repetitive_message(n: int) -> str:
    """The old benchmark's message: the same parties and text, GTINs from a small catalogue."""
    body = [
        f"BGM+220+PO{n:08d}+9",
        "DTM+137:20240115:102",
        "DTM+2:20240122:102",
        "FTX+ZZZ+++Please deliver to ramp 4",
        f"RFF+CR:CUSTREF{n}",
        "NAD+BY+4012345000009::9",
        "NAD+SU+4098765000003::9",
        "NAD+DP+4012345000108::9",
        "CUX+2:EUR:9",
    ]
    for line in range(1, 4):
        body += [
            f"LIN+{line}++{_GTINS[(n + line) % len(_GTINS)]}:EN",
            f"PIA+1+ART{line:04d}:SA",
            f"QTY+21:{line * 6}",
            f"PRI+AAA:{line * 3}.25",
        ]
    body += ["UNS+S", "MOA+86:123.45", "CNT+2:3"]
    segs = [f"UNH+{n}+ORDERS:D:96A:UN:EAN008", *body, f"UNT+{len(body) + 2}+{n}"]
    return "'\n".join(segs) + "'\n"


def chunks(messages: int, *, seed: int = 13, repetitive: bool = False) -> Iterator[str]:
    """The interchange's text in pieces (UNA, UNB, one message at a time, UNZ)."""
    rng = random.Random(seed)
    yield "UNA:+.? '\n"
    yield "UNB+UNOC:3+4012345000009:14+4098765000003:14+240115:1030+BENCH1'\n"
    for n in range(1, messages + 1):
        yield repetitive_message(n) if repetitive else varied_message(rng, n)
    yield f"UNZ+{messages}+BENCH1'\n"


def interchange(messages: int, *, seed: int = 13, repetitive: bool = False) -> bytes:
    """A whole interchange of ``messages`` ORDERS as bytes."""
    return "".join(chunks(messages, seed=seed, repetitive=repetitive)).encode("latin-1")


def write(path: Path, messages: int, *, seed: int = 13, repetitive: bool = False) -> int:
    """Write an interchange to ``path`` message by message; returns its size in bytes."""
    with path.open("w", encoding="latin-1", newline="") as fh:
        for chunk in chunks(messages, seed=seed, repetitive=repetitive):
            fh.write(chunk)
    return path.stat().st_size


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--repetitive", action="store_true")
    args = parser.parse_args(argv)
    size = write(args.out, args.messages, seed=args.seed, repetitive=args.repetitive)
    print(f"{args.out}: {args.messages} messages, {size / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
