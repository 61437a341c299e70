"""Security headers on pages and API answers: a Content-Security-Policy that allows only the app's
own scripts and styles (Stripe's origins on its pay page alone), no framing, no MIME sniffing, a
same-origin referrer; HSTS, the HTTPS redirect and secure cookies where KABAO_HTTPS says the site is
served over TLS; and `manage.py check --deploy` clean with production settings."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

from marketplace.services.orders import order_create
from tests.factories import UserFactory
from tests.payments import conftest as payments

pytestmark = pytest.mark.django_db

# The Stripe fixtures of tests/payments: a local fake of Stripe's API and an order paid through it.
fake_stripe, use_stripe, stripe_order = payments.fake_stripe, payments.use_stripe, payments.stripe_order

ROOT = Path(__file__).resolve().parents[2]
POLICY = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "img-src": ["'self'", "data:"],
    "font-src": ["'self'"],
    "connect-src": ["'self'"],
    "frame-src": ["'none'"],
    "object-src": ["'none'"],
    "base-uri": ["'self'"],
    "form-action": ["'self'"],
    "frame-ancestors": ["'none'"],
}
HEADERS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def policy_of(response) -> dict[str, list[str]]:
    directives = [part.strip().split() for part in response["Content-Security-Policy"].split(";")]
    return {words[0]: words[1:] for words in directives if words}


@pytest.fixture
def order(stocked_product):
    return order_create(buyer=UserFactory(), product_id=stocked_product.pk, quantity=1)


def test_pages_and_api_answers_carry_the_policy_and_the_headers(order):
    buyer = Client()
    buyer.force_login(order.buyer)
    answers = {
        "catalogue": Client().get("/"),
        "login": Client().get("/accounts/login/"),
        "order page": buyer.get(f"/orders/{order.pk}/"),
        "404 page": Client().get("/no-such-page/"),
        "API list": Client().get("/api/v1/products/"),
        "API error": Client().get(f"/api/v1/orders/{order.pk}/"),
    }

    assert {name: response.status_code for name, response in answers.items()} == {
        "catalogue": 200,
        "login": 200,
        "order page": 200,
        "404 page": 404,
        "API list": 200,
        "API error": 401,
    }
    for name, response in answers.items():
        assert policy_of(response) == POLICY, name
        assert {header: response.get(header) for header in HEADERS} == HEADERS, name
        assert "Strict-Transport-Security" not in response  # plain HTTP here: HSTS only over TLS


def test_only_the_stripe_pay_page_opens_the_policy_to_stripe(stripe_order, buyer):
    client = Client()
    client.force_login(buyer)

    page = client.get(f"/pay/stripe/{stripe_order.payment.reference}/")

    assert page.status_code == 200
    assert policy_of(page) == {
        **POLICY,
        "script-src": ["'self'", "https://js.stripe.com", "https://*.js.stripe.com"],
        "connect-src": ["'self'", "https://api.stripe.com"],
        "img-src": ["'self'", "data:", "https://*.stripe.com"],
        "frame-src": ["https://js.stripe.com", "https://*.js.stripe.com", "https://hooks.stripe.com"],
    }
    assert '<script src="/static/stripe_pay.js"></script>' in page.text


def test_the_api_docs_inline_setup_runs_by_its_nonce_alone():
    page = Client().get("/api/docs/")
    nonce = re.search(r'<script nonce="([^"]+)">', page.text)

    assert page.status_code == 200 and nonce is not None
    assert policy_of(page)["script-src"] == ["'self'", f"'nonce-{nonce.group(1)}'"]
    assert policy_of(page)["style-src"] == ["'self'", f"'nonce-{nonce.group(1)}'"]
    assert policy_of(Client().get("/"))["script-src"] == ["'self'"]  # and a fresh one per answer


INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>", re.IGNORECASE)
INLINE_HANDLER = re.compile(r"\son[a-z]+\s*=", re.IGNORECASE)
STYLE_ATTRIBUTE = re.compile(r"\sstyle\s*=", re.IGNORECASE)


def test_no_template_has_inline_script_handlers_or_style_attributes():
    """The policy would block them in the browser: every behaviour lives in static/*.js. The API
    docs' setup script is the one exception, and it carries the nonce."""
    offenders = []
    for template in sorted((ROOT / "templates").rglob("*.html")):
        text = template.read_text()
        name = str(template.relative_to(ROOT))
        for pattern in (INLINE_SCRIPT, INLINE_HANDLER, STYLE_ATTRIBUTE):
            for match in pattern.finditer(text):
                if 'nonce="{{ request.csp_nonce }}"' not in match.group(0):
                    offenders.append(f"{name}: {match.group(0).strip()}")

    assert offenders == []


def test_over_https_hsts_is_sent_and_plain_http_is_redirected(settings):
    """What KABAO_HTTPS=1 with KABAO_PROXY_SSL_HEADER=HTTP_X_FORWARDED_PROTO sets (see the
    check --deploy test for the settings the environment gives)."""
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    client = Client()

    plain = client.get("/accounts/login/")
    behind_tls = client.get("/accounts/login/", HTTP_X_FORWARDED_PROTO="https")
    probe = client.get("/healthz")

    assert (plain.status_code, plain["Location"]) == (301, "https://testserver/accounts/login/")
    assert behind_tls.status_code == 200
    assert behind_tls["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert probe.status_code in (200, 503)  # health probes are answered over plain HTTP


def test_session_and_csrf_cookies_are_secure_httponly_and_same_site(settings):
    settings.SESSION_COOKIE_SECURE = True
    settings.CSRF_COOKIE_SECURE = True
    user = UserFactory()
    client = Client()

    form = client.get("/accounts/login/")
    login = client.post(
        "/accounts/login/",
        {"username": user.email, "password": "correct-horse-battery"},
    )

    csrf = form.cookies["csrftoken"]
    session = login.cookies["sessionid"]
    assert (csrf["secure"], csrf["samesite"]) == (True, "Lax")
    assert (session["secure"], session["httponly"], session["samesite"]) == (True, True, "Lax")


PRODUCTION = {
    "DEBUG": "0",
    "SECRET_KEY": "k7#Qz9!vR2@pL5$wX8^mN3&bT6*yH1(eJ4)uF0-cG9_sD2+aK7=Lr",
    "DATABASE_URL": "postgres://kabao:kabao@127.0.0.1:5432/kabao",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "ALLOWED_HOSTS": "kabao.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://kabao.example.com",
    "PAYMENT_PROVIDER": "stripe",
    "STRIPE_SECRET_KEY": "sk_live_0000000000000000",
    "STRIPE_PUBLISHABLE_KEY": "pk_live_0000000000000000",
    "STRIPE_WEBHOOK_SECRET": "whsec_0000000000000000",
    "KABAO_CODE_KEYS": "cHJvZHVjdGlvbi1saWtlLWtleS0zMi1ieXRlcy1sb25n",
    "KABAO_CODE_HASH_KEY": "production-like-fingerprint-key",
    "KABAO_HTTPS": "1",
    "KABAO_PROXY_SSL_HEADER": "HTTP_X_FORWARDED_PROTO",
}


def check_deploy(**environment: str) -> subprocess.CompletedProcess:
    keep = {"PATH", "HOME", "LANG", "PYTHONPATH"}
    env = {key: value for key, value in os.environ.items() if key in keep}
    env |= {"DJANGO_SETTINGS_MODULE": "kabao.settings", **environment}
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )


def test_check_deploy_is_clean_with_production_settings():
    result = check_deploy(**PRODUCTION)

    assert result.returncode == 0, result.stderr
    # Silenced: django-ratelimit's W001, which does not know Django's own RedisCache (settings.py).
    assert result.stdout.strip() == "System check identified no issues (1 silenced)."


def test_check_deploy_names_what_a_deployment_without_https_misses():
    environment = {name: value for name, value in PRODUCTION.items() if name != "KABAO_HTTPS"}
    result = check_deploy(**environment)

    assert result.returncode == 1
    assert re.findall(r"\((security\.W\d+)\)", result.stderr) == ["security.W004", "security.W008"]
