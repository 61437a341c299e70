"""The request id of the work in hand: set per request by the middleware, per task by Celery signals.

A contextvar, so threads (a threaded worker pool, the test server) each see their own.
"""

import re
import uuid
from contextvars import ContextVar, Token

HEADER = "X-Request-ID"
# The Celery message header that carries the enqueuing request's id to the worker.
TASK_HEADER = "kabao_request_id"
# Letters, digits and . _ : - only, 1 to 64 of them: a UUID or a proxy's id fits; anything that could
# break a log line, smuggle markup or bloat every record is replaced by an id of our own.
_SANE = re.compile(r"[A-Za-z0-9._:-]{1,64}")

_request_id: ContextVar[str | None] = ContextVar("kabao_request_id", default=None)


def request_id_get() -> str | None:
    return _request_id.get()


def request_id_set(value: str | None) -> Token[str | None]:
    return _request_id.set(value)


def request_id_reset(token: Token[str | None]) -> None:
    _request_id.reset(token)


def request_id_new() -> str:
    return uuid.uuid4().hex


def request_id_accept(offered: str | None) -> str:
    """The caller's id when it is sane, else a new one."""
    if offered and _SANE.fullmatch(offered):
        return offered
    return request_id_new()
