"""Rate limits at their production values: sign-up and login per client address, order reads (the
codes' reveal too) and code uploads per user, on the pages and in the API. The request over the
limit gets 429 with Retry-After (a page, or the API's error shape) and changes nothing; other users
and addresses are not affected; KABAO_RATE_LIMITS_ENABLED=0 lifts them all, and each rate comes from
the environment."""

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import cast

import pytest
from django.core.cache import cache
from django.test import Client
from django_ratelimit.core import _get_window
from rest_framework.test import APIClient

from accounts.models import User
from accounts.services import api_token_create
from marketplace.crypto import decrypt_code
from marketplace.models import Code
from marketplace.services.orders import order_create
from tests.factories import MerchantFactory, ProductFactory, UserFactory, owner_of

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION_RATES = {"signup": "10/h", "login": "30/m", "order_read": "120/m", "code_upload": "30/m"}


@pytest.fixture(autouse=True)
def rate_limits_on(settings):
    """The limits as production runs them, counted afresh: the suite's Redis outlives test runs,
    so each test counts under its own prefix (django-ratelimit) and drops the API's counters."""
    settings.LANGUAGE_CODE = "en"  # DRF's throttle message follows the language; pages ask for theirs
    settings.KABAO_RATE_LIMITS_ENABLED = True
    settings.RATELIMIT_ENABLE = True
    settings.KABAO_RATE_LIMITS = dict(PRODUCTION_RATES)
    settings.RATELIMIT_CACHE_PREFIX = f"rl-test-{uuid.uuid4().hex}:"
    yield
    cache.delete_many([key for key in _throttle_keys])
    _throttle_keys.clear()


_throttle_keys: list[str] = []


def fresh_throttle(scope: str, ident: str) -> None:
    key = f"throttle_{scope}_{ident}"
    cache.delete(key)
    _throttle_keys.append(key)


def token_client(user: User) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_token_create(user=user)[1]}")
    return client


def signed_in(user: User, language: str = "en") -> Client:
    client = Client(headers={"accept-language": language})
    client.force_login(user)
    return client


def api_refusal(response, period: int = 60) -> None:
    """429 in the API's error shape, the message naming the same wait as Retry-After."""
    assert response.status_code == 429
    wait = int(response["Retry-After"])
    assert 1 <= wait <= period
    unit = "second" if wait == 1 else "seconds"
    assert response.json() == {
        "error": {
            "code": "rate_limited",
            "message": f"Request was throttled. Expected available in {wait} {unit}.",
            "fields": {},
        }
    }


def page_refusal(response, language: str = "en") -> None:
    assert response.status_code == 429
    wait = int(response["Retry-After"])
    assert 1 <= wait <= 3600
    if language == "en":
        assert (
            f"Too many requests in a short time. Please wait {wait} seconds and try again." in response.text
        )
    else:
        assert f"请求过于频繁。请等待 {wait} 秒后再试。" in response.text


# django-ratelimit counts in fixed windows, each key's offset by a hash of the key: a test that
# crossed its key's window boundary would see the count start again. These pick a key with at
# least MARGIN seconds left in its window (a deterministic choice, no waiting), so the whole
# sequence of requests falls in one window even on a slow machine.
MARGIN = 40


def seconds_left(key: str, period: int) -> int:
    return _get_window(key, period) - int(time.time())


def address_with_time(period: int) -> str:
    return next(
        address
        for address in (f"198.51.100.{n}" for n in range(1, 255))
        if seconds_left(address, period) >= MARGIN
    )


def user_with_time(period: int = 60) -> User:
    for _ in range(50):
        user = cast(User, UserFactory())
        if seconds_left(f"user:{user.pk}", period) >= MARGIN:
            return user
    raise AssertionError("no user key with time left in 50 tries")


@pytest.fixture
def delivered(stocked_product, pay):
    buyer = user_with_time()
    return pay(order_create(buyer=buyer, product_id=stocked_product.pk, quantity=1))


def test_the_order_page_and_its_status_poll_allow_120_reads_a_minute_per_user(delivered):
    buyer = delivered.buyer
    client = signed_in(buyer, "zh-CN")
    page = f"/orders/{delivered.pk}/"

    statuses = [client.get(page, {"live": "1"} if n % 2 else {}).status_code for n in range(120)]
    over = client.get(page)

    assert statuses == [200] * 120
    page_refusal(over, "zh")
    # Another user's reads are counted apart.
    other = UserFactory()
    assert signed_in(other).get("/orders/").status_code == 200
    assert signed_in(other).get(f"/orders/{delivered.pk}/").status_code == 404


def test_the_api_order_detail_allows_120_reads_a_minute_per_user(delivered):
    fresh_throttle("order_read", f"user:{delivered.buyer_id}")
    client = token_client(delivered.buyer)
    url = f"/api/v1/orders/{delivered.pk}/"

    statuses = [client.get(url).status_code for _ in range(120)]
    over = client.get(url)

    assert statuses == [200] * 120
    api_refusal(over)
    # The order list is not an order lookup: it still answers.
    assert client.get("/api/v1/orders/").status_code == 200


def test_revealing_the_codes_allows_120_a_minute_per_user(delivered, stocked_product, pay):
    """The reveal decrypts the codes on every call: the order page's rate, counted on its own
    counter (django-ratelimit keys the count by method too), so reading the page spends none of it."""
    buyer = delivered.buyer
    client = signed_in(buyer)
    url = f"/orders/{delivered.pk}/reveal/"
    (code,) = [
        decrypt_code(bytes(row.ciphertext), fingerprint=row.fingerprint)
        for row in Code.objects.filter(order=delivered)
    ]

    answers = [client.post(url) for _ in range(120)]
    over = client.post(url)

    assert [answer.status_code for answer in answers] == [200] * 120
    assert all(code in answer.text for answer in answers)
    page_refusal(over)
    assert code not in over.text
    assert client.get(f"/orders/{delivered.pk}/").status_code == 200  # the order page still shows
    # Another buyer's reveal is counted apart.
    other = pay(order_create(buyer=user_with_time(), product_id=stocked_product.pk, quantity=1))
    assert signed_in(other.buyer).post(f"/orders/{other.pk}/reveal/").status_code == 200


def test_sign_up_allows_10_an_hour_per_address_and_the_eleventh_creates_no_one():
    client = Client(headers={"accept-language": "en"})
    address = address_with_time(3600)

    answers = [
        client.post(
            "/accounts/signup/",
            {"email": f"new{n}@example.com", "password": "violet-kettle-92"},
            REMOTE_ADDR=address,
        ).status_code
        for n in range(10)
    ]
    client.logout()
    over = client.post(
        "/accounts/signup/",
        {"email": "eleventh@example.com", "password": "violet-kettle-92"},
        REMOTE_ADDR=address,
    )

    assert answers == [302] * 10
    page_refusal(over)
    assert not User.objects.filter(email="eleventh@example.com").exists()
    # The page itself still shows, and another address may sign up.
    assert client.get("/accounts/signup/", REMOTE_ADDR=address).status_code == 200
    elsewhere = Client().post(
        "/accounts/signup/",
        {"email": "elsewhere@example.com", "password": "violet-kettle-92"},
        REMOTE_ADDR="192.0.2.1",
    )
    assert elsewhere.status_code == 302


def test_api_register_allows_10_an_hour_per_address():
    address = "198.51.100.12"
    fresh_throttle("signup", f"ip:{address}")
    api = APIClient()

    answers = [
        api.post(
            "/api/v1/auth/register/",
            {"email": f"api{n}@example.com", "password": "violet-kettle-92"},
            format="json",
            REMOTE_ADDR=address,
        ).status_code
        for n in range(10)
    ]
    over = api.post(
        "/api/v1/auth/register/",
        {"email": "api-eleventh@example.com", "password": "violet-kettle-92"},
        format="json",
        REMOTE_ADDR=address,
    )

    assert answers == [201] * 10
    api_refusal(over, period=3600)
    assert not User.objects.filter(email="api-eleventh@example.com").exists()


def test_login_allows_30_tries_a_minute_per_address_whatever_x_forwarded_for_says():
    """Spread over many emails (each under the lockout's limit), a guesser still meets the rate
    limit of its address; a made-up X-Forwarded-For does not give it a fresh one."""
    user = UserFactory()
    client = Client(headers={"accept-language": "en"})
    address = address_with_time(60)

    def attempt(email: str, password: str, n: int):
        return client.post(
            "/accounts/login/",
            {"username": email, "password": password},
            REMOTE_ADDR=address,
            HTTP_X_FORWARDED_FOR=f"10.1.{n}.1",
        )

    answers = [attempt(f"guess{n}@example.com", "nope-nope-nope", n).status_code for n in range(30)]
    over = attempt(user.email, "correct-horse-battery", 99)

    assert answers == [200] * 30
    page_refusal(over)
    assert "_auth_user_id" not in client.session


def test_the_token_api_allows_30_tries_a_minute_per_address():
    address = "198.51.100.14"
    fresh_throttle("login", f"ip:{address}")
    api = APIClient()

    answers = [
        api.post(
            "/api/v1/auth/token/",
            {"email": f"guess{n}@example.com", "password": "nope-nope-nope"},
            format="json",
            REMOTE_ADDR=address,
        ).status_code
        for n in range(30)
    ]
    over = api.post(
        "/api/v1/auth/token/",
        {"email": "guess@example.com", "password": "x"},
        format="json",
        REMOTE_ADDR=address,
    )

    assert answers == [401] * 30
    api_refusal(over)


@pytest.fixture
def shop_product():
    merchant = MerchantFactory(owner=user_with_time())
    return owner_of(merchant), ProductFactory(merchant=merchant)


def test_code_uploads_from_the_page_allow_30_a_minute_per_user(shop_product):
    owner, product = shop_product
    client = signed_in(owner)
    url = f"/merchant/products/{product.pk}/codes/"

    answers = [client.post(url, {"codes": f"PAGE-{n:04d}-AAAA"}).status_code for n in range(30)]
    over = client.post(url, {"codes": "PAGE-9999-ZZZZ"})

    assert answers == [201] * 30
    page_refusal(over)
    assert Code.objects.filter(product=product).count() == 30
    assert client.get(url).status_code == 200  # the inventory itself still shows


def test_code_uploads_through_the_api_allow_30_a_minute_per_user(shop_product):
    owner, product = shop_product
    fresh_throttle("code_upload", f"user:{owner.pk}")
    client = token_client(owner)
    url = f"/api/v1/merchant/products/{product.pk}/codes/"

    answers = [
        client.post(url, {"codes": [f"API-{n:04d}-AAAA"]}, format="json").status_code for n in range(30)
    ]
    over = client.post(url, {"codes": ["API-9999-ZZZZ"]}, format="json")

    assert answers == [201] * 30
    api_refusal(over)
    assert Code.objects.filter(product=product).count() == 30
    assert client.get(url).status_code == 200  # reading the codes is not an upload


def test_kabao_rate_limits_enabled_0_lifts_every_limit(settings, delivered):
    """With the switch off, even a limit of 2 a minute lets 5 reads through, page and API."""
    settings.KABAO_RATE_LIMITS = {**PRODUCTION_RATES, "order_read": "2/m"}
    settings.KABAO_RATE_LIMITS_ENABLED = False
    settings.RATELIMIT_ENABLE = False
    fresh_throttle("order_read", f"user:{delivered.buyer_id}")
    page, api = signed_in(delivered.buyer), token_client(delivered.buyer)

    pages = [page.get(f"/orders/{delivered.pk}/").status_code for _ in range(5)]
    calls = [api.get(f"/api/v1/orders/{delivered.pk}/").status_code for _ in range(5)]

    assert pages == [200] * 5
    assert calls == [200] * 5
    settings.KABAO_RATE_LIMITS_ENABLED = settings.RATELIMIT_ENABLE = True
    assert [api.get(f"/api/v1/orders/{delivered.pk}/").status_code for _ in range(3)] == [200, 200, 429]


def settings_from_environment(**environment: str) -> dict:
    program = (
        "import json, django; django.setup(); from django.conf import settings; "
        "print(json.dumps({'enabled': settings.KABAO_RATE_LIMITS_ENABLED, 'rates': settings.KABAO_RATE_LIMITS, "
        "'ratelimit': settings.RATELIMIT_ENABLE}))"
    )
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("KABAO_RATE", "DJANGO_SETTINGS"))
    }
    env |= {"DJANGO_SETTINGS_MODULE": "kabao.settings", "DEBUG": "1", **environment}
    result = subprocess.run(
        [sys.executable, "-c", program], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_the_limits_come_from_the_environment():
    assert settings_from_environment() == {"enabled": True, "rates": PRODUCTION_RATES, "ratelimit": True}
    assert settings_from_environment(
        KABAO_RATE_LIMITS_ENABLED="0", KABAO_RATE_ORDER_READ="5/s", KABAO_RATE_SIGNUP="100/d"
    ) == {
        "enabled": False,
        "rates": {**PRODUCTION_RATES, "order_read": "5/s", "signup": "100/d"},
        "ratelimit": False,
    }
