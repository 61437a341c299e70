"""Celery hookups: the enqueuing request's id travels in the task's headers; failures are counted.

Connected by `kabao.celery` at import, so the web process (which publishes) and the worker (which
runs) both have them.
"""

import logging
from contextvars import Token
from typing import Any

from celery import signals

from kabao.observability.context import TASK_HEADER, request_id_get, request_id_reset, request_id_set

logger = logging.getLogger(__name__)

# Task id -> the token that restores the worker thread's context when the task ends.
_tokens: dict[str, Token[str | None]] = {}


@signals.before_task_publish.connect
def _carry_request_id(headers: dict[str, Any] | None = None, **kwargs: Any) -> None:
    request_id = request_id_get()
    if headers is not None and request_id and TASK_HEADER not in headers:
        headers[TASK_HEADER] = request_id


def _header_of(task: Any) -> str | None:
    request = task.request
    value = getattr(request, TASK_HEADER, None)
    if value is None:
        value = (getattr(request, "headers", None) or {}).get(TASK_HEADER)
    return str(value) if value else None


@signals.task_prerun.connect
def _adopt_request_id(task_id: str | None = None, task: Any = None, **kwargs: Any) -> None:
    if task is None or task_id is None:
        return
    # An eager task runs inside the request itself and keeps its id; a worker takes the header's,
    # or none, never the id of the task it ran before.
    if task.request.is_eager:
        return
    _tokens[task_id] = request_id_set(_header_of(task))


@signals.task_postrun.connect
def _drop_request_id(task_id: str | None = None, **kwargs: Any) -> None:
    token = _tokens.pop(task_id, None) if task_id else None
    if token is not None:
        request_id_reset(token)


@signals.task_failure.connect
def _count_failure(sender: Any = None, **kwargs: Any) -> None:
    from kabao.metrics import task_failure_record

    name = getattr(sender, "name", None) or "unknown"
    try:
        task_failure_record(task_name=name)
    except Exception:
        # A metrics store that is down must not hide the task's own failure.
        logger.warning("task failure of %s could not be counted", name, exc_info=True)
