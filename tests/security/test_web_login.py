"""Password guessing: after AXES_FAILURE_LIMIT failed logins for one email from one address, the
browser login and the API token call both refuse that pair, even with the right password, until the
cool-off has passed; other addresses and other emails are not affected."""

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import F
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import ApiToken
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"
TOKEN = "/api/v1/auth/token/"
PASSWORD = "correct-horse-battery"
ATTACKER_IP = "203.0.113.7"


def the_cool_off_passes() -> None:
    """Move every recorded failure back by the cool-off and a second: what the passing time does."""
    AccessAttempt.objects.update(
        attempt_time=F("attempt_time") - settings.AXES_COOLOFF_TIME - timedelta(seconds=1)
    )


def browser_login(client: Client, email: str, password: str, ip: str = ATTACKER_IP):
    return client.post(LOGIN, {"username": email, "password": password}, REMOTE_ADDR=ip)


def logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def test_the_settings_are_what_production_runs():
    assert settings.AUTHENTICATION_BACKENDS[0] == "axes.backends.AxesStandaloneBackend"
    assert settings.MIDDLEWARE[-1] == "axes.middleware.AxesMiddleware"
    assert (5, timedelta(minutes=15)) == (settings.AXES_FAILURE_LIMIT, settings.AXES_COOLOFF_TIME)
    assert settings.AXES_LOCKOUT_PARAMETERS == [["username", "ip_address"]]


def test_the_browser_login_locks_the_email_on_that_address_and_unlocks_after_the_cool_off():
    user = UserFactory(email="buyer@example.com")
    client = Client(headers={"accept-language": "zh-CN"})

    first_four = [browser_login(client, user.email, f"guess-{n}").status_code for n in range(4)]
    fifth = browser_login(client, user.email, "guess-4")
    # Now even the right password is refused from this address, in any letter case: the page
    # matches the email in any case (the test below), so only the lock refuses this one.
    right_password = browser_login(client, "Buyer@Example.COM", PASSWORD)

    assert first_four == [200, 200, 200, 200]
    assert fifth.status_code == 429
    assert right_password.status_code == 429
    assert right_password["Retry-After"] == "900"
    assert "登录失败次数过多。为了账户安全，请在 15 分钟后再试。" in right_password.text
    assert '<input type="password" name="password"' in right_password.text  # the form, to retry later
    assert not logged_in(client)
    assert list(AccessAttempt.objects.values_list("username", "ip_address", "failures_since_start")) == [
        ("buyer@example.com", ATTACKER_IP, 6)
    ]

    # The lock is on this (email, address) pair only.
    elsewhere = Client()
    assert browser_login(elsewhere, user.email, PASSWORD, ip="198.51.100.20").status_code == 302
    assert logged_in(elsewhere)
    other_user = UserFactory(email="other@example.com")
    same_address = Client()
    assert browser_login(same_address, other_user.email, PASSWORD).status_code == 302

    the_cool_off_passes()
    after = browser_login(client, "Buyer@Example.COM", PASSWORD)  # what the lock refused above
    assert (after.status_code, after.get("Location")) == (302, "/")
    assert logged_in(client)


def test_the_browser_login_takes_the_email_in_any_letter_case():
    """As the token API does: emails are stored lower-cased, and the page lower-cases what is typed."""
    user = UserFactory(email="buyer@example.com")
    client = Client()

    response = browser_login(client, " Buyer@Example.COM ", PASSWORD)

    assert (response.status_code, response.get("Location")) == (302, "/")
    assert client.session["_auth_user_id"] == str(user.pk)
    assert AccessAttempt.objects.count() == 0


def test_the_lockout_page_speaks_english_on_request():
    user = UserFactory()
    client = Client(headers={"accept-language": "en"})
    for n in range(5):
        browser_login(client, user.email, f"guess-{n}")

    response = browser_login(client, user.email, PASSWORD)

    assert response.status_code == 429
    assert "Too many failed logins. For your safety, try again in 15 minutes." in response.text


def test_the_token_api_locks_the_same_way_in_the_api_error_shape():
    user = UserFactory(email="script@example.com")
    api = APIClient()

    def ask(password: str, email: str = "script@example.com"):
        return api.post(TOKEN, {"email": email, "password": password}, format="json", REMOTE_ADDR=ATTACKER_IP)

    wrong = [ask(f"guess-{n}") for n in range(4)]
    fifth = ask("guess-4")
    right_password = ask(PASSWORD, email="SCRIPT@example.com")

    for response in wrong:
        assert response.status_code == 401
        assert response.json() == {
            "error": {"code": "invalid_credentials", "message": "Email or password is wrong.", "fields": {}}
        }
    locked = {
        "error": {
            "code": "locked_out",
            "message": "Too many failed logins. Try again in 15 minutes.",
            "fields": {},
        }
    }
    assert (fifth.status_code, fifth.json()) == (429, locked)
    assert (right_password.status_code, right_password.json()) == (429, locked)
    assert right_password["Retry-After"] == "900"
    assert ApiToken.objects.filter(user_id=user.pk).count() == 0

    the_cool_off_passes()
    after = ask(PASSWORD)
    assert after.status_code == 200
    assert ApiToken.objects.filter(user_id=user.pk).count() == 1


def test_browser_and_api_failures_count_together():
    """A guesser gains nothing by spreading its tries over the page and the API."""
    user = UserFactory()
    client, api = Client(), APIClient()
    for n in range(3):
        browser_login(client, user.email, f"guess-{n}")
    for n in range(2):
        api.post(TOKEN, {"email": user.email, "password": f"api-{n}"}, format="json", REMOTE_ADDR=ATTACKER_IP)

    assert browser_login(client, user.email, PASSWORD).status_code == 429
    answer = api.post(
        TOKEN, {"email": user.email, "password": PASSWORD}, format="json", REMOTE_ADDR=ATTACKER_IP
    )
    assert answer.status_code == 429


def test_a_client_cannot_pick_its_address_with_x_forwarded_for():
    """With no trusted proxy in front, X-Forwarded-For is the client's own words and is ignored."""
    user = UserFactory()
    client = Client()
    for n in range(5):
        client.post(
            LOGIN,
            {"username": user.email, "password": f"guess-{n}"},
            REMOTE_ADDR=ATTACKER_IP,
            HTTP_X_FORWARDED_FOR=f"10.0.0.{n}",
        )

    response = client.post(
        LOGIN,
        {"username": user.email, "password": PASSWORD},
        REMOTE_ADDR=ATTACKER_IP,
        HTTP_X_FORWARDED_FOR="10.9.9.9",
    )

    assert response.status_code == 429
    assert list(AccessAttempt.objects.values_list("ip_address", flat=True)) == [ATTACKER_IP]


def test_behind_one_trusted_proxy_the_address_is_the_one_the_proxy_saw(settings):
    """KABAO_TRUSTED_PROXY_COUNT=1: the proxy appends the client's address to X-Forwarded-For, so
    the last entry counts; whatever the client wrote before it does not."""
    settings.KABAO_TRUSTED_PROXY_COUNT = 1
    user = UserFactory()
    client = Client()
    for n in range(5):
        client.post(
            LOGIN,
            {"username": user.email, "password": f"guess-{n}"},
            REMOTE_ADDR="10.0.0.2",  # the proxy
            HTTP_X_FORWARDED_FOR=f"192.0.2.{n}, {ATTACKER_IP}",
        )

    response = client.post(
        LOGIN,
        {"username": user.email, "password": PASSWORD},
        REMOTE_ADDR="10.0.0.2",
        HTTP_X_FORWARDED_FOR=f"192.0.2.99, {ATTACKER_IP}",
    )

    assert response.status_code == 429
    assert list(AccessAttempt.objects.values_list("ip_address", flat=True)) == [ATTACKER_IP]
