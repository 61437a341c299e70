"""Settings for the test suite: PostgreSQL and Redis, as in production."""

import os

os.environ.setdefault("DEBUG", "0")
os.environ.setdefault("SECRET_KEY", "test-secret-key")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/kabao")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/15")
os.environ.setdefault("KABAO_CODE_KEYS", "dGVzdC1rZXktbmV3ZXN0LTAwMDAwMDAwMDAwMDAwMDA=")
os.environ.setdefault("KABAO_CODE_HASH_KEY", "test-fingerprint-key")
os.environ.setdefault("KABAO_SIMULATED_WEBHOOK_SECRET", "test-webhook-secret")
# DEBUG is off here, as in production; the suite runs on the simulated gateway, so it says so.
os.environ.setdefault("KABAO_ALLOW_SIMULATED_PAYMENTS", "1")
# Stripe tests point the library at a local fake (tests/payments/fake_stripe.py); never the network.
os.environ.setdefault("STRIPE_SECRET_KEY", "sk_test_offline")
os.environ.setdefault("STRIPE_PUBLISHABLE_KEY", "pk_test_offline")
os.environ.setdefault("STRIPE_WEBHOOK_SECRET", "whsec_test_offline")
os.environ.setdefault("KABAO_STRIPE_API_BASE", "http://127.0.0.1:9")
# The suite sends thousands of requests from one address through one Redis: rate limits would trip
# across unrelated tests. tests/security turns them on, with a clean count, where it proves them.
os.environ.setdefault("KABAO_RATE_LIMITS_ENABLED", "0")

from kabao.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Tasks run inline in the test process; the worker and beat that end-to-end tests start as real
# processes set CELERY_TASK_ALWAYS_EAGER=0.
CELERY_TASK_ALWAYS_EAGER = os.environ.get("CELERY_TASK_ALWAYS_EAGER", "1") == "1"
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_AUTOREFRESH = True
