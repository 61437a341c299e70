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
