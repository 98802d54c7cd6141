"""The floor of this stack on this machine: a bare Flask app with one view that runs `SELECT 1` over the same driver
and pool as the application (Flask-SQLAlchemy, psycopg 3, the app's SQLALCHEMY_ENGINE_OPTIONS) and returns 20 KB
of HTML. `bench/web_bench.py` serves it under the same gunicorn settings as the app and divides by its req/s.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/om_bench \
        gunicorn -c gunicorn.conf.py 'bench.floor_app:create_app()'
"""
from __future__ import annotations

from flask import Flask, Response, request
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import text

from config import Config

SIZE = 20 * 1024  # bytes of HTML, about a staff page's size

db = SQLAlchemy()


def _page() -> tuple[str, str]:
    """The page around the query's value, padded to SIZE bytes with table rows."""
    head = ("<!doctype html>\n<html lang=\"ru\"><head><meta charset=\"utf-8\"><title>floor</title></head>"
            "<body><h1>floor</h1><p>SELECT 1 → ")
    rows, n = [], 0
    tail_start = "</p><table>"
    tail_end = "</table></body></html>\n"
    budget = SIZE - len((head + tail_start + tail_end).encode()) - 1
    while True:
        row = f"<tr><td>{n}</td><td>строка пола {n}</td></tr>"
        if sum(len(r.encode()) for r in rows) + len(row.encode()) > budget:
            break
        rows.append(row)
        n += 1
    return head, tail_start + "".join(rows) + tail_end


def create_app() -> Flask:
    app = Flask(__name__)
    app.config["SQLALCHEMY_DATABASE_URI"] = Config.SQLALCHEMY_DATABASE_URI
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = dict(Config.SQLALCHEMY_ENGINE_OPTIONS)
    db.init_app(app)
    head, tail = _page()

    @app.get("/")
    def index():
        value = db.session.execute(text("SELECT 1")).scalar_one()
        return Response(f"{head}{value}{tail}", mimetype="text/html")

    @app.post("/hooks/<network>")
    def hook(network: str):  # the intake floor (bench/intake_bench.py): read the body, one SELECT 1, answer "ok"
        request.get_data()
        db.session.execute(text("SELECT 1")).scalar_one()
        return Response("ok", content_type="text/plain; charset=utf-8")

    @app.post("/hooks-durable/<network>")
    def hook_durable(network: str):
        """The floor of *storing* a delivery exactly once: one INSERT … ON CONFLICT DO NOTHING of the body under a
        unique key and a COMMIT (a WAL flush), as the real webhook must do before it answers."""
        raw = request.get_data()
        db.session.execute(text("INSERT INTO bench_floor_messages (network, external_id, body) "
                                "VALUES (:n, md5(:b), :b) ON CONFLICT DO NOTHING"),
                           {"n": network, "b": raw.decode("utf-8", "replace")})
        db.session.commit()
        return Response("ok", content_type="text/plain; charset=utf-8")

    with app.app_context():  # the durable floor's own table (bench databases only)
        try:
            db.session.execute(text("CREATE TABLE IF NOT EXISTS bench_floor_messages (network text NOT NULL, "
                                    "external_id text NOT NULL, body text NOT NULL, "
                                    "PRIMARY KEY (network, external_id))"))
            db.session.commit()
        except Exception:  # noqa: BLE001 — another worker created it at the same moment
            db.session.rollback()
        db.engine.dispose()
    return app
