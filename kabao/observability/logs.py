"""Log records carry the request id; one JSON object per line when LOG_FORMAT=json.

Referenced by name from settings.LOGGING, so this module imports nothing from Django's models.
"""

import json
import logging
from datetime import UTC, datetime
from typing import Any

from kabao.observability.context import request_id_get

# The attributes every LogRecord has; anything else on a record came from `extra=`.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "request_id"}
# An extra whose name holds one of these is never written out, whatever its value.
_SENSITIVE = ("authorization", "cookie", "password", "passwd", "secret", "token", "session", "plaintext")
REDACTED = "[redacted]"


class RequestIdFilter(logging.Filter):
    """Puts the current request id (or "-") on every record that passes the handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_get() or "-"
        return True


def _is_sensitive(name: str) -> bool:
    lowered = name.lower()
    return any(word in lowered for word in _SENSITIVE)


def _plain_value(value: Any) -> Any:
    """JSON-ready values pass; any other object (a request, a user) is left out, not repr'd: a repr
    can hold a query string or a header."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, list | tuple) and all(isinstance(item, str | int | float | bool) for item in value):
        return list(value)
    return None


class JsonFormatter(logging.Formatter):
    """time, level, logger, message, request_id, then the record's extra fields (primitives only)."""

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or request_id_get() or "-",
        }
        for name, value in vars(record).items():
            if name in _STANDARD or name.startswith("_"):
                continue
            if _is_sensitive(name):
                document[name] = REDACTED
                continue
            plain = _plain_value(value)
            if plain is not None:
                document[name] = plain
        if record.exc_info:
            document["exc_info"] = self.formatException(record.exc_info)
        return json.dumps(document, ensure_ascii=False, default=str)
