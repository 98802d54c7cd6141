"""The board as an XLSX workbook: the same report and worklist the page shows, with the same filters."""
from __future__ import annotations

from datetime import date

from app.services import access, exports
from app.services.board import Period

# (key, label, unit, scale): values in the units the page shows them in.
FIGURE_ROWS = (
    ("received", "Поступило", "обращ.", None),
    ("open", "Из них ещё не решено", "обращ.", None),
    ("overdue", "Из них просрочено", "обращ.", None),
    ("resolved", "Решено за период", "обращ.", None),
    ("on_time", "Из них в срок", "обращ.", None),
    ("sla_share", "Решено в срок", "%", 100),
    ("median_first_response", "Медиана первого ответа", "ч", 1 / 3600),
    ("median_resolution", "Медиана решения", "ч", 1 / 3600),
    ("mean_resolution_days", "Среднее время ответа (цель ≤ 8 дн.)", "дн.", 1),
    ("rating_avg", "Средняя оценка жителей", "из 5", 1),
    ("rated", "Оценок за период", "шт.", None),
    ("good_share", "Оценок 4–5 (цель ≥ 60 %)", "%", 100),
    ("reopened_share", "Возвращено жителями", "%", 100),
)

RANK_HEADERS = ("Место", "Название", "Поступило", "Просрочено", "Решено", "В срок, %", "Изменение, п.п.",
                "Медиана решения, ч", "Среднее время ответа, дн.", "Средняя оценка", "Оценок", "Оценок 4–5, %",
                "Балл, %")
RANK_KINDS = ("int", "text", "int", "int", "int", "int", "int", "int", "int", "int", "int", "int", "int")


def scaled(value, scale):
    if value is None:
        return None
    if scale is None:
        return int(value)
    return round(value * scale, 1)


def _rank_rows(ranking: dict):
    for r in ranking["ranked"] + ranking["unranked"]:
        f = r["figures"]
        yield (r["rank"], r["name"], f["received"], f["overdue"], f["resolved"], scaled(f["sla_share"], 100),
               scaled(r["sla_change"], 100), scaled(f["median_resolution"], 1 / 3600),
               scaled(f["mean_resolution_days"], 1), scaled(f["rating_avg"], 1), f["rated"],
               scaled(f["good_share"], 100), scaled(r["score"], 100) if r["rank"] else None)


def _period_text(p: dict) -> str:
    return f"{date.fromisoformat(p['start']):%d.%m.%Y} — {date.fromisoformat(p['end']):%d.%m.%Y}"


def _approx(data: dict, key: str) -> str:
    """The medians from the daily rollups' histograms carry their error bound, as on the page."""
    error = data["current"].get("median_error")
    if key.startswith("median_") and error:
        return f" (≈, погрешность ≤ {error * 100:.1f} %)".replace(".", ",")
    return ""


def build(user, state: dict, items, choices: dict) -> bytes:
    data = state["data"]
    masked = not access.can_see_personal_data(user)
    figures = exports.Sheet(
        "Показатели", ("Показатель", "За период", "За прошлый период", "Единица"),
        [(label, scaled(data["current"][key], scale), scaled(data["previous"][key], scale),
          unit + _approx(data, key)) for key, label, unit, scale in FIGURE_ROWS] + [
            ("Сейчас в работе", data["now"]["open"], None, "обращ."),
            ("Сейчас просрочено", data["now"]["overdue"], None, "обращ.")],
        ("text", "int", "int", "text"), (40, 14, 18, 10))
    worklist = exports.Sheet(
        "Проблемные вопросы", ("Вид", "Серьёзность", "Что", "Подробности", "Учреждение", "Ссылка"),
        [(i.kind_label, int(i.severity), exports.free_text(i.title, masked=masked), i.detail, i.institution or "",
          i.url) for i in items],
        ("text", "int", "text", "text", "text", "text"), (26, 12, 70, 40, 30, 30))
    sheets = [
        figures, worklist,
        exports.Sheet("Учреждения", RANK_HEADERS, _rank_rows(data["institutions"]), RANK_KINDS,
                      (7, 40)),
        exports.Sheet("Направления", RANK_HEADERS, _rank_rows(data["directions"]), RANK_KINDS, (7, 30)),
        exports.Sheet("По неделям", ("Неделя с", "Поступило", "Решено"),
                      [(date.fromisoformat(w["week"]), w["received"], w["resolved"]) for w in data["weekly"]],
                      ("date", "int", "int")),
        exports.Sheet("Просрочено по направлениям", ("Направление", "Открыто", "Просрочено"),
                      [(r["name"], r["open"], r["count"]) for r in data["overdue_by_direction"]],
                      ("text", "int", "int"), (30,)),
    ]
    period: Period = state["period"]
    filters = [("Период", _period_text(data["period"])), ("Сравнение с", _period_text(data["previous_period"]))]
    scope = state["scope"]
    if scope.direction_id:
        filters.append(("Направление", next((d.name for d in choices["directions"] if d.id == scope.direction_id),
                                            str(scope.direction_id))))
    if scope.institution_id:
        filters.append(("Учреждение", next((i.short_name for i in choices["institutions"]
                                            if i.id == scope.institution_id), str(scope.institution_id))))
    about = exports.About(what=f"Проблемные вопросы ({period.kind})", by=getattr(user, "display_name", ""),
                          filters=filters, masked=masked)
    return exports.workbook(sheets, about)


def response(user, state: dict, items, choices: dict):
    data = build(user, state, items, choices)
    p = state["period"]
    return exports.xlsx_response(data, f"Проблемные вопросы {p.start:%d.%m.%Y}-{p.end:%d.%m.%Y}.xlsx")
