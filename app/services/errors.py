"""Domain errors: each carries a message a staff member can read.

The message is a Russian template with named parameters (`ValidationFailed("Обращение уже в статусе «%(s)s»",
s=label)`); `.message` gives it in the staff's language when the catalogue has it (the template is the msgid:
`pybabel extract` takes the first argument of these classes, see README «Translations»)."""
from __future__ import annotations


class DomainError(Exception):
    status_code = 400

    def __init__(self, message: str, field: str | None = None, **params):
        self.template = str(message)
        self.params = {k: str(v) for k, v in params.items()}
        self.field = field
        super().__init__(self._format(self.template))

    def _format(self, text: str) -> str:
        return text % self.params if self.params else text

    @property
    def message(self) -> str:
        try:
            from flask_babel import gettext

            return gettext(self.template, **self.params)
        except (RuntimeError, KeyError, ValueError, TypeError):  # no app context, or a broken translation
            return self._format(self.template)


class NotAllowed(DomainError):
    status_code = 403


class NotFound(DomainError):
    status_code = 404


class InvalidTransition(DomainError):
    status_code = 422


class ValidationFailed(DomainError):
    status_code = 422


class Conflict(DomainError):
    """Somebody else changed the ticket since the form was opened (optimistic version check)."""

    status_code = 409

    def __init__(self, message: str | None = None):
        super().__init__(message or "Обращение уже изменил другой сотрудник. Обновите страницу и повторите действие.")
