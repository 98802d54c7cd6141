"""The address extractor on the labelled phrases (tests/data/address_phrases.py): precision and recall of the street
and of street+house, for the street-list matcher (app/services/addresses.py) and, when it is installed, for natasha's
AddrExtractor whose parts are matched against the same street list. No database: `python -m bench.addresses_eval`."""
from __future__ import annotations

import sys
import time

from app.demo.data import STREETS
from app.services import addresses
from tests.data.address_phrases import HELD_OUT, PHRASES


def demo_streets() -> list[addresses.StreetEntry]:
    out = []
    for i, (name, _, _) in enumerate(STREETS, 1):
        kind, core, shown = addresses.parse_name(name)
        out.append(addresses.entry(i, shown, core))
    return out


def score(pairs: list[tuple[tuple, tuple]]) -> dict:
    """pairs of (expected (street, house), found (street, house)); street and full precision/recall."""
    out = {}
    for what, key in (("street", lambda x: x[0]), ("street+house", lambda x: x)):
        tp = sum(1 for e, f in pairs if e[0] and f[0] and key(e) == key(f))
        found = sum(1 for _, f in pairs if f[0])
        expected = sum(1 for e, _ in pairs if e[0])
        out[what] = (tp / found if found else 1.0, tp / expected if expected else 1.0)
    return out


def ours(streets, phrases=PHRASES) -> list[tuple[tuple, tuple]]:
    pairs = []
    for text, street, house in phrases:
        a = addresses.extract(text, streets)
        pairs.append(((street, house), (a.street, a.house_text) if a else (None, None)))
    return pairs


def natasha(streets, phrases=PHRASES) -> list[tuple[tuple, tuple]] | None:
    try:
        from natasha import AddrExtractor, MorphVocab
    except ImportError:
        return None
    extractor = AddrExtractor(MorphVocab())
    pairs = []
    for text, street, house in phrases:
        parts = [m.fact for m in extractor(text)]
        names = [p.value for p in parts if p.type in (None, "улица", "переулок", "шоссе", "проспект")
                 and not p.value.isdigit()]
        houses = [p.value for p in parts if p.type == "дом"]
        found = None
        for name in names:
            a = addresses.extract(f"ул. {name}", streets)
            if a:
                found = a.street
                break
        pairs.append(((street, house), (found, houses[0].lower() if houses and found else None)))
    return pairs


def main() -> None:
    streets = demo_streets()
    for label, run, phrases in (("street list + rapidfuzz", ours, PHRASES), ("natasha AddrExtractor", natasha, PHRASES),
                                ("street list, held out", ours, HELD_OUT), ("natasha, held out", natasha, HELD_OUT)):
        t = time.perf_counter()
        pairs = run(streets, phrases)
        if pairs is None:
            print(f"{label}: not installed")
            continue
        ms = (time.perf_counter() - t) * 1000 / len(phrases)
        s = score(pairs)
        print(f"{label}: {len(phrases)} phrases, {ms:.2f} ms each; "
              + "; ".join(f"{k} P={p:.2f} R={r:.2f}" for k, (p, r) in s.items()))
        if "-v" in sys.argv:
            for (e, f), (text, _, _) in zip(pairs, phrases, strict=True):
                if e != f:
                    print("   ", text, "| expected", e, "| found", f)


if __name__ == "__main__":
    main()
