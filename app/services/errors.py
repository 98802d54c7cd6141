"""Domain errors: each carries a message a staff member can read (Russian)."""


class DomainError(Exception):
    status_code = 400

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


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
