"""Settings for the real-browser journeys (tests/browser): the test settings, served to Chromium by
pytest-django's live server. Static files come from plain StaticFilesStorage (hashed names 404 under
the live server) and tasks run inline in the server's thread, after each commit."""

from kabao.settings_test import *  # noqa: F403

STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
CELERY_TASK_ALWAYS_EAGER = True
