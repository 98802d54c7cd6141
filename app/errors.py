"""Error pages: never a bare 500, always a Russian explanation."""
from __future__ import annotations

from flask import Flask, jsonify, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from sqlalchemy.orm.exc import StaleDataError

from app.extensions import db
from app.htmx import wants_fragment
from app.services.errors import Conflict, DomainError


def _page(status: int, title: str, message: str):
    if request.path.startswith("/api/"):
        return jsonify({"error": f"{title}. {message}"}), status
    if wants_fragment():  # an HTMX swap, not a boosted page or a history restore
        return render_template("errors/_message.html", title=title, message=message), status
    return render_template("errors/error.html", status=status, title=title, message=message), status


def _has_nul(values) -> bool:
    return any("\x00" in v for v in values)


def register(app: Flask) -> None:
    @app.before_request
    def refuse_nul_bytes():
        # No text field (nor PostgreSQL) accepts NUL; say so instead of failing deeper down.
        if _has_nul(request.args.values()) or _has_nul(request.form.values()) or "\x00" in request.path:
            return _page(400, _("Недопустимый символ"),
                         _("В запросе есть нулевой символ (\\0). Уберите его и повторите."))

    @app.errorhandler(404)
    def not_found(_e):
        return _page(404, _("Страница не найдена"), _("Такой страницы или обращения нет. Проверьте адрес или номер."))

    @app.errorhandler(403)
    def forbidden(_e):
        return _page(403, _("Доступ запрещён"), _("У вас нет права на это действие."))

    @app.errorhandler(413)
    def too_large(_e):
        if request.blueprint == "publishing":  # the compose form's own limit: ten photos of 10 MB
            limit = (request.max_content_length or app.config["MAX_CONTENT_LENGTH"]) // (1024 * 1024)
            return _page(413, _("Слишком большой запрос"),
                         _("Запрос больше %(mb)s МБ: к посту — не больше 10 фото до 10 МБ каждое. Уберите лишние "
                           "или уменьшите их.", mb=limit))
        limit = app.config["MAX_CONTENT_LENGTH"] // (1024 * 1024)
        return _page(413, _("Слишком большой запрос"),
                     _("Запрос больше %(mb)s МБ. Фотографии вместе — не больше 25 МБ.", mb=limit))

    @app.errorhandler(405)
    def not_allowed(_e):
        return _page(405, _("Метод не поддерживается"), _("Так к этой странице обращаться нельзя."))

    @app.errorhandler(CSRFError)
    def csrf_error(_e):
        return _page(400, _("Форма устарела"), _("Страница была открыта слишком давно или с другого сеанса. "
                                              "Обновите её и повторите действие."))

    @app.errorhandler(StaleDataError)
    def stale(_e):
        db.session.rollback()
        return _page(409, _("Конфликт изменений"), Conflict().message)

    @app.errorhandler(DomainError)
    def domain_error(e: DomainError):
        db.session.rollback()
        return _page(e.status_code, _("Действие не выполнено"), e.message)

    @app.errorhandler(500)
    def server_error(_e):
        db.session.rollback()
        return _page(500, _("Ошибка на сервере"), _("Что-то пошло не так. Мы уже знаем; попробуйте ещё раз позже."))
