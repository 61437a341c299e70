"""The one domain error type. Services raise it; the API and the browser views translate it."""


class DomainError(Exception):
    """A business rule refused the request. `code` is stable; `status` is the HTTP status."""

    def __init__(self, code: str, message: str, *, status: int = 400, fields: dict | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.fields = fields or {}


class NotFound(DomainError):
    def __init__(self, message: str = "Not found."):
        super().__init__("not_found", message, status=404)


class Conflict(DomainError):
    def __init__(self, code: str, message: str):
        super().__init__(code, message, status=409)
