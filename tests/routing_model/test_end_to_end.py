"""Import → train → evaluate → triage, end to end (issue 15, «Done when»): the city's history (the 525 hand-written
appeals of tests/data/appeals_eval.csv, with the demo city's rubrics and institutions) loaded by `flask tickets
import`, a model learned by `flask routing train`, the report of `flask routing evaluate`, and a new resident's
appeal routed by it."""
from __future__ import annotations

import csv
import random
import re
import uuid
from pathlib import Path

from sqlalchemy import func, select

from app.demo import seed
from app.extensions import db
from app.models import Category, Message, Reply, RoutingModel, SlaMark, Ticket, TicketEvent
from app.services import intake
from app.services.routing_model import store

DATA = Path(__file__).resolve().parents[1] / "data" / "appeals_eval.csv"


def test_import_train_evaluate_triage(app, tmp_path):
    seed._seed_reference(random.Random(1), seed.Summary())  # the demo city's directions, institutions, rubrics
    db.session.commit()
    store.forget()
    history = tmp_path / "history.csv"
    with open(DATA, encoding="utf-8") as src, open(history, "w", encoding="utf-8", newline="") as out:
        rows = list(csv.DictReader(src))
        w = csv.writer(out)
        w.writerow(["№", "Текст обращения", "Рубрика", "Исполнитель", "Дата"])
        for k, r in enumerate(rows):
            w.writerow([r["id"], r["text"], r["rubric"], r["institution"], f"{1 + k % 28:02d}.0{1 + k % 9}.2025 10:00"])
    runner = app.test_cli_runner()
    mapping = "text=Текст обращения,category=Рубрика,institution=Исполнитель,created_at=Дата,external_id=№"

    result = runner.invoke(args=["tickets", "import", str(history), "--map", mapping])
    assert result.exit_code == 0, result.output
    imported = db.session.scalar(select(func.count()).select_from(Ticket).where(Ticket.imported.is_(True)))
    assert imported == len(rows) >= 500
    assert db.session.scalar(select(func.count()).select_from(Reply)) == 0  # closed history: nothing sent
    assert db.session.scalar(select(func.count()).select_from(SlaMark)) == 0
    again = runner.invoke(args=["tickets", "import", str(history), "--map", mapping])
    assert again.exit_code == 0 and db.session.scalar(
        select(func.count()).select_from(Ticket).where(Ticket.imported.is_(True))) == imported  # idempotent

    result = runner.invoke(args=["routing", "train", "--folds", "3"])
    assert result.exit_code == 0, result.output
    models = {m.target: m for m in db.session.scalars(select(RoutingModel).where(RoutingModel.is_current))}
    assert set(models) == {"category", "institution"} and models["category"].n_train == imported
    top1 = models["category"].scores.get("top1") if isinstance(models["category"].scores, dict) else None
    assert top1 is None or top1 > 0.5

    result = runner.invoke(args=["routing", "evaluate", "--folds", "3"])
    assert result.exit_code == 0, result.output
    report = result.output
    assert re.search(r"top-?1", report, re.I) and re.search(r"top-?3", report, re.I) and "F1" in report
    assert "ключев" in report.lower()  # beside the keyword rules

    store.forget()
    m = Message(network="vk", external_id=str(uuid.uuid4()), kind="comment", thread_key="t:e2e",
                text="Третий день не вывозят мусор, контейнеры переполнены, всё валяется вокруг площадки")
    db.session.add(m)
    db.session.flush()
    ticket = intake.triage_message(m)
    suggestion = ticket.route_suggestion
    waste = db.session.scalar(select(Category).where(Category.code == "waste"))
    assert suggestion is not None and suggestion["category"][0][0] == waste.id
    event = db.session.scalar(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id,
                                                        TicketEvent.kind == "routed"))
    if suggestion["category_sure"]:
        assert ticket.category == waste and event.payload["category_source"] == "model"
    else:
        assert ticket.category is None
