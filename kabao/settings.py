"""Kabao settings: everything from the environment, with safe defaults for the embedded run.

The embedded run (DEBUG on, no DATABASE_URL, no REDIS_URL) uses SQLite and a filesystem broker.
Production secrets are required when DEBUG is off: a missing one is ImproperlyConfigured.
"""

import secrets
from datetime import timedelta
from pathlib import Path

import environ
from csp.constants import NONCE
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()

# Without DATABASE_URL this is the embedded run (SQLite) on a developer's machine: DEBUG defaults
# on there, so `python manage.py …` works on a fresh checkout. Any real deployment sets
# DATABASE_URL, and then DEBUG is off unless asked for.
DEBUG = env.bool("DEBUG", default=not env.str("DATABASE_URL", default=""))


def _secret(name: str, dev_value: str) -> str:
    value: str = env.str(name, default="")
    if value:
        return value
    if DEBUG:
        return dev_value
    raise ImproperlyConfigured(f"{name} must be set when DEBUG is off")


SECRET_KEY = _secret("SECRET_KEY", "dev-only-secret-key-not-for-production-use-0123456789")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_prometheus",
    "axes",
    "csp",
    "django_ratelimit",
    "accounts",
    "escrow",
    "merchants",
    "marketplace",
    "disputes",
]

MIDDLEWARE = [
    # First: every log line of the request, even the security middleware's, carries its id.
    "kabao.middleware.RequestIdMiddleware",
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "kabao.middleware.DomainErrorMiddleware",
    "kabao.middleware.DisplayTimeZoneMiddleware",
    # Wraps what follows, so the answers it counts include a lockout's.
    "django_prometheus.middleware.PrometheusAfterMiddleware",
    # Last: it turns a login refused for a lockout into the lockout answer.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "kabao.urls"
WSGI_APPLICATION = "kabao.wsgi.application"
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "marketplace:catalogue"
LOGOUT_REDIRECT_URL = "marketplace:catalogue"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
            ],
        },
    },
]

# --- database -------------------------------------------------------------------------------
if env.str("DATABASE_URL", default=""):
    DATABASES = {"default": env.db("DATABASE_URL")}
    DATABASES["default"].setdefault("CONN_MAX_AGE", 60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
else:
    VAR_DIR.mkdir(exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": VAR_DIR / "kabao.sqlite3",
            # Web, worker and beat share the file: WAL and IMMEDIATE transactions avoid
            # "database is locked" when they write at the same time.
            "OPTIONS": {
                "timeout": 20,
                "transaction_mode": "IMMEDIATE",
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- broker and cache ----------------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
    # django-ratelimit's list of supported caches predates Django's own RedisCache, whose add (SET NX)
    # and incr (INCR) are the atomic operations it needs.
    SILENCED_SYSTEM_CHECKS = ["django_ratelimit.W001"]
else:
    BROKER_DIR = VAR_DIR / "broker"
    for sub in ("queue", "control", "processed"):
        (BROKER_DIR / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "control_folder": str(BROKER_DIR / "control"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "store_processed": False,
    }
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    # The embedded run counts rate limits per process: good enough on one machine.
    SILENCED_SYSTEM_CHECKS = ["django_ratelimit.E003", "django_ratelimit.W001"]

CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# Redis gives a message that was taken but never acknowledged (its worker died) to another worker
# after this long. Countdowns and retry delays stay under half of it
# (tests/reliability/test_worker_static.py), or Redis would deliver them again while they wait.
KABAO_BROKER_VISIBILITY_TIMEOUT_SECONDS = env.int("KABAO_BROKER_VISIBILITY_TIMEOUT_SECONDS", default=3600)
if REDIS_URL:
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": KABAO_BROKER_VISIBILITY_TIMEOUT_SECONDS}
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
# Celery's Django fix-up closes the database connection around every task unless this is set: a new
# PostgreSQL connection per task, 17.7 ms here (docs/benchmarks.md). Kept for this many tasks instead;
# kabao/celery.py still replaces a broken connection, or one older than CONN_MAX_AGE, before each task.
CELERY_DB_REUSE_MAX = env.int("CELERY_DB_REUSE_MAX", default=1000)
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

# --- Kabao policy (see DESIGN.md, Configuration) --------------------------------------------
PAYMENT_PROVIDER = env.str("PAYMENT_PROVIDER", default="simulated")
STRIPE_SECRET_KEY = env.str("STRIPE_SECRET_KEY", default="")
STRIPE_PUBLISHABLE_KEY = env.str("STRIPE_PUBLISHABLE_KEY", default="")
STRIPE_WEBHOOK_SECRET = env.str("STRIPE_WEBHOOK_SECRET", default="")
if PAYMENT_PROVIDER not in ("simulated", "stripe"):
    raise ImproperlyConfigured("PAYMENT_PROVIDER must be 'simulated' or 'stripe'")
if PAYMENT_PROVIDER == "stripe":
    _missing = [
        name
        for name in ("STRIPE_SECRET_KEY", "STRIPE_PUBLISHABLE_KEY", "STRIPE_WEBHOOK_SECRET")
        if not env.str(name, default="")
    ]
    if _missing:
        raise ImproperlyConfigured(f"PAYMENT_PROVIDER=stripe needs {', '.join(_missing)}")
# The simulated gateway takes any buyer's word that they paid: never by accident where DEBUG is off.
KABAO_ALLOW_SIMULATED_PAYMENTS = env.bool("KABAO_ALLOW_SIMULATED_PAYMENTS", default=False)
if PAYMENT_PROVIDER == "simulated" and not DEBUG and not KABAO_ALLOW_SIMULATED_PAYMENTS:
    raise ImproperlyConfigured(
        "PAYMENT_PROVIDER=simulated is refused when DEBUG is off; use stripe, or set "
        "KABAO_ALLOW_SIMULATED_PAYMENTS=1 for a demo or test deployment"
    )
KABAO_SIMULATED_WEBHOOK_SECRET = env.str("KABAO_SIMULATED_WEBHOOK_SECRET", default="")
if not KABAO_SIMULATED_WEBHOOK_SECRET:
    if PAYMENT_PROVIDER == "simulated" and not DEBUG:
        raise ImproperlyConfigured("KABAO_SIMULATED_WEBHOOK_SECRET must be set when DEBUG is off")
    # Under Stripe a random secret: no simulated webhook can then be signed by anyone.
    KABAO_SIMULATED_WEBHOOK_SECRET = "dev-only-simulated-webhook-secret" if DEBUG else secrets.token_hex(32)
KABAO_STRIPE_API_BASE = env.str("KABAO_STRIPE_API_BASE", default="https://api.stripe.com")
KABAO_STRIPE_TIMEOUT_SECONDS = env.float("KABAO_STRIPE_TIMEOUT_SECONDS", default=30.0)
KABAO_STRIPE_MAX_NETWORK_RETRIES = env.int("KABAO_STRIPE_MAX_NETWORK_RETRIES", default=2)
KABAO_STRIPE_IDEMPOTENCY_PREFIX = env.str("KABAO_STRIPE_IDEMPOTENCY_PREFIX", default="kabao")
# Currencies (lowercase) in which the account may present Alipay and WeChat Pay; never CNY by default.
KABAO_STRIPE_WALLET_CURRENCIES = [
    currency.lower()
    for currency in env.list("KABAO_STRIPE_WALLET_CURRENCIES", default=["hkd", "usd", "eur", "gbp", "sgd"])
]

KABAO_CODE_KEYS = env.list("KABAO_CODE_KEYS", default=[])
if not KABAO_CODE_KEYS:
    if not DEBUG:
        raise ImproperlyConfigured("KABAO_CODE_KEYS must be set when DEBUG is off")
    # 32 bytes, urlsafe base64: the development key. Never used when DEBUG is off.
    KABAO_CODE_KEYS = ["ZGV2LW9ubHkta2FiYW8tY29kZS1rZXktMzItYnl0ZXM="]
KABAO_CODE_HASH_KEY = _secret("KABAO_CODE_HASH_KEY", "dev-only-code-fingerprint-key")

KABAO_CURRENCY = env.str("KABAO_CURRENCY", default="CNY")
# Where users reach the site, for links in emails.
KABAO_BASE_URL = env.str("KABAO_BASE_URL", default="http://127.0.0.1:8000")
KABAO_PLATFORM_FEE_BPS = env.int("KABAO_PLATFORM_FEE_BPS", default=500)
KABAO_MIN_MERCHANT_DEPOSIT = env.int("KABAO_MIN_MERCHANT_DEPOSIT", default=100000)
KABAO_UNPAID_EXPIRY_SECONDS = env.int("KABAO_UNPAID_EXPIRY_SECONDS", default=900)
KABAO_RECONCILE_AFTER_SECONDS = env.int("KABAO_RECONCILE_AFTER_SECONDS", default=120)
KABAO_DELIVERY_DEADLINE_SECONDS = env.int("KABAO_DELIVERY_DEADLINE_SECONDS", default=600)
KABAO_AUTO_CONFIRM_SECONDS = env.int("KABAO_AUTO_CONFIRM_SECONDS", default=86400)
KABAO_AUTO_CONFIRM_MIN_SECONDS = env.int("KABAO_AUTO_CONFIRM_MIN_SECONDS", default=3600)
KABAO_AUTO_CONFIRM_MAX_SECONDS = env.int("KABAO_AUTO_CONFIRM_MAX_SECONDS", default=14 * 86400)
KABAO_DISPUTE_MERCHANT_RESPONSE_SECONDS = env.int("KABAO_DISPUTE_MERCHANT_RESPONSE_SECONDS", default=43200)
KABAO_DISPUTE_PLATFORM_FEEDBACK_SECONDS = env.int("KABAO_DISPUTE_PLATFORM_FEEDBACK_SECONDS", default=86400)
KABAO_DISPUTE_DECISION_SECONDS = env.int("KABAO_DISPUTE_DECISION_SECONDS", default=259200)
KABAO_AFTER_SALE_SECONDS = env.int("KABAO_AFTER_SALE_SECONDS", default=604800)
# A delivered remedy (replacement code) with no objection for this long closes the dispute.
KABAO_DISPUTE_REMEDY_OBJECTION_SECONDS = env.int("KABAO_DISPUTE_REMEDY_OBJECTION_SECONDS", default=259200)
# Credited to the buyer from the platform when the platform misses its decision deadline.
KABAO_DISPUTE_COMPENSATION_BPS = env.int("KABAO_DISPUTE_COMPENSATION_BPS", default=1000)
KABAO_DISPUTE_ATTACHMENT_MAX_BYTES = env.int("KABAO_DISPUTE_ATTACHMENT_MAX_BYTES", default=5 * 1024 * 1024)
KABAO_SWEEP_INTERVAL_SECONDS = env.int("KABAO_SWEEP_INTERVAL_SECONDS", default=30)
KABAO_MAX_ORDER_QUANTITY = env.int("KABAO_MAX_ORDER_QUANTITY", default=20)
KABAO_MAX_CODES_PER_UPLOAD = env.int("KABAO_MAX_CODES_PER_UPLOAD", default=100000)
# A code upload larger than this (bytes) is refused with 413 before it is read: 100,000 codes of
# up to 200 characters, with room for JSON's quotes and commas.
KABAO_MAX_UPLOAD_BYTES = env.int("KABAO_MAX_UPLOAD_BYTES", default=24 * 1024 * 1024)

CELERY_BEAT_SCHEDULE = {
    "marketplace-sweep-deadlines": {
        "task": "marketplace.tasks.sweep_deadlines_task",
        "schedule": float(KABAO_SWEEP_INTERVAL_SECONDS),
    },
    "disputes-sweep-deadlines": {
        "task": "disputes.tasks.sweep_dispute_deadlines_task",
        "schedule": float(KABAO_SWEEP_INTERVAL_SECONDS),
    },
}

# --- API ------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "kabao.api_errors.exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Kabao API",
    "DESCRIPTION": "Escrow marketplace for game cards: the contract merchants automate against.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI served by the app itself: no CDN, works offline.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
}

# --- i18n -----------------------------------------------------------------------------------
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
# The server keeps and the API speaks UTC; pages show times in the buyers' zone.
TIME_ZONE = "UTC"
KABAO_DISPLAY_TIME_ZONE = env.str("KABAO_DISPLAY_TIME_ZONE", default="Asia/Shanghai")
USE_TZ = True

# --- static ---------------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# Uploaded dispute evidence. Never served as public files: a view checks who may read each one.
MEDIA_ROOT = env.path("MEDIA_ROOT", default=str(VAR_DIR / "media"))
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")

# --- security -------------------------------------------------------------------------------
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
# Served over HTTPS (directly or behind a TLS proxy): redirect plain HTTP and send HSTS. Off by
# default so the embedded run, the benchmarks and a plain-HTTP compose stack keep working; a public
# deployment sets KABAO_HTTPS=1 (`manage.py check --deploy` warns until it does).
KABAO_HTTPS = env.bool("KABAO_HTTPS", default=False)
SECURE_SSL_REDIRECT = KABAO_HTTPS
# Health probes and the metrics scrape come from inside the network, over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^metrics$"]
SECURE_HSTS_SECONDS = env.int("KABAO_HSTS_SECONDS", default=31536000) if KABAO_HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("KABAO_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("KABAO_HSTS_PRELOAD", default=True)
# Only behind a proxy that sets this header itself (and drops the client's): e.g.
# KABAO_PROXY_SSL_HEADER=HTTP_X_FORWARDED_PROTO means "X-Forwarded-Proto: https" is a TLS request.
_proxy_ssl_header = env.str("KABAO_PROXY_SSL_HEADER", default="")
SECURE_PROXY_SSL_HEADER = (_proxy_ssl_header, "https") if _proxy_ssl_header else None
# How many proxies in front of the app append to X-Forwarded-For; 0: the client is REMOTE_ADDR.
# Lockouts and rate limits key on this address, so a client can never choose it.
KABAO_TRUSTED_PROXY_COUNT = env.int("KABAO_TRUSTED_PROXY_COUNT", default=0)

# Content-Security-Policy: every script and style comes from the app itself; pages that need an
# outside origin (the Stripe pay page) widen it with csp_update on their view.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        # A nonce only where a page asks for one (request.csp_nonce): the API docs' inline setup.
        "script-src": ["'self'", NONCE],
        "style-src": ["'self'", NONCE],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "frame-src": ["'none'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# Password guessing: django-axes locks a (user, client address) pair after AXES_FAILURE_LIMIT failed
# logins, browser or API, for AXES_COOLOFF_TIME. Its backend goes first: it refuses a locked pair
# before the password is even checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_ENABLED = env.bool("KABAO_LOGIN_LOCKOUT_ENABLED", default=True)
AXES_FAILURE_LIMIT = env.int("KABAO_LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("KABAO_LOGIN_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_USERNAME_CALLABLE = "accounts.security.login_username"
AXES_CLIENT_IP_CALLABLE = "kabao.rate_limits.client_ip"
AXES_LOCKOUT_CALLABLE = "accounts.security.lockout_response"
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False

# Rate limits, per client address (sign-up, login) or per user (order reads, code uploads), counted
# in the default cache (Redis in production). Each is "count/period" (s, m, h, d) and can be set from
# the environment; KABAO_RATE_LIMITS_ENABLED=0 lifts them all (benchmarks hammer from one address).
KABAO_RATE_LIMITS_ENABLED = env.bool("KABAO_RATE_LIMITS_ENABLED", default=True)
KABAO_RATE_LIMITS = {
    "signup": env.str("KABAO_RATE_SIGNUP", default="10/h"),
    "login": env.str("KABAO_RATE_LOGIN", default="30/m"),
    # The order page polls its live part every 2 s while it waits: 30 a minute for one open tab.
    "order_read": env.str("KABAO_RATE_ORDER_READ", default="120/m"),
    "code_upload": env.str("KABAO_RATE_CODE_UPLOAD", default="30/m"),
}
RATELIMIT_ENABLE = KABAO_RATE_LIMITS_ENABLED
RATELIMIT_IP_META_KEY = "kabao.rate_limits.client_ip"

# --- operations (docs/operations.md) -------------------------------------------------------------
# Bearer token a Prometheus scraper sends to /metrics; empty: only staff sessions may read it.
KABAO_METRICS_TOKEN = env.str("KABAO_METRICS_TOKEN", default="")
# json: one JSON object per line (production default, for a log shipper); plain: for a terminal.
LOG_FORMAT = env.str("LOG_FORMAT", default="plain" if DEBUG else "json")
if LOG_FORMAT not in ("json", "plain"):
    raise ImproperlyConfigured("LOG_FORMAT must be 'json' or 'plain'")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "kabao.observability.logs.RequestIdFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        "json": {"()": "kabao.observability.logs.JsonFormatter"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["request_id"]}
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
}
