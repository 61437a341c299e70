import os

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kabao.settings")

app = Celery("kabao")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Request ids into task headers and back out, and task failures counted (docs/operations.md).
import kabao.observability.celery_signals  # noqa: E402, F401


@signals.setup_logging.connect
def _django_logging(**kwargs: object) -> None:
    """Workers and beat log through settings.LOGGING (JSON lines with request ids), not Celery's own."""
    from logging.config import dictConfig

    from django.conf import settings

    dictConfig(settings.LOGGING)


@signals.task_prerun.connect
@signals.task_postrun.connect
def _replace_unusable_connections(sender: object = None, **kwargs: object) -> None:
    """Workers keep their database connections between tasks (CELERY_DB_REUSE_MAX), so what Django
    does around each request is done around each task: a connection that failed, or is older than
    CONN_MAX_AGE, is closed and the next query opens a new one. Not for eager tasks: they run inside
    the caller's transaction, whose connection must stay open."""
    from django.db import close_old_connections

    request = getattr(sender, "request", None)
    if not getattr(request, "is_eager", False):
        close_old_connections()
