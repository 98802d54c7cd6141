"""/rating/export.xlsx: the page's rating with the page's filters and every component, one sheet with a
direction column (numbers as numbers, missing components empty, Russian headers)."""
from __future__ import annotations

from app.services import exports
from app.services.board.periods import Period
from app.services.rating.composite import CHECK_GROWTH, FEW_DATA
from app.services.rating.page import COLUMNS, value

FLAGS = {FEW_DATA: "мало данных", CHECK_GROWTH: "проверить накрутку"}
HEADERS = ("Направление", "Место", "Изменение места", "Участник", "Балл") + tuple(
    h for c in COLUMNS for h in ((c[2], f"Ранг: {c[2]}") if c[5] else (c[2],))) + ("Отметки",)


def _rows(sections: list[dict]):
    for s in sections:
        for r in s["rows"]:
            cells = [s["direction"].name, r["place"], r["change"], s["names"][r["institution_id"]].short_name,
                     round(r["score"], 1) if r["score"] is not None else None]
            for c in COLUMNS:
                cells.append(value(r["figures"], c))
                if c[5]:
                    cells.append(r["ranks"].get(c[5]))
            cells.append(", ".join(FLAGS[f] for f in sorted(r["flags"])))
            yield cells


def build(user, sections: list[dict], period: Period) -> bytes:
    kinds = ["text", "int", "int", "text"] + ["int"] * (len(HEADERS) - 5) + ["text"]  # numbers stay numbers
    sheet = exports.Sheet("Рейтинг", HEADERS, _rows(sections), kinds, (24, 7, 9, 36))
    about = exports.About(what="Рейтинг участников", by=getattr(user, "display_name", ""),
                          filters=[("Период", f"{period.start:%d.%m.%Y} — {period.end:%d.%m.%Y}"),
                                   ("Направления", ", ".join(s["direction"].name for s in sections))])
    return exports.workbook([sheet], about)


def response(user, sections: list[dict], period: Period):
    return exports.xlsx_response(build(user, sections, period),
                                 f"Рейтинг участников {period.start:%d.%m.%Y}-{period.end:%d.%m.%Y}.xlsx")
