import re

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ApiToken, User
from accounts.services import api_token_create, token_digest
from tests.api.helpers import assert_error, database_state
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

REGISTER = "/api/v1/auth/register/"
TOKEN = "/api/v1/auth/token/"
ORDERS = "/api/v1/orders/"
FACTORY_PASSWORD = "correct-horse-battery"  # what UserFactory sets


def client_with(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


# --- register -------------------------------------------------------------------------------


def test_register_creates_the_user_and_a_token_that_works(api):
    response = api.post(
        REGISTER, {"email": " Ada@Example.COM ", "password": "a-long-passphrase"}, format="json"
    )

    assert response.status_code == 201
    user = User.objects.get()
    key = response.json()["token"]
    assert response.json() == {"user": {"id": user.pk, "email": "ada@example.com"}, "token": key}
    assert re.fullmatch(r"[0-9a-f]{40}", key)
    assert user.email == "ada@example.com"
    assert user.check_password("a-long-passphrase")
    assert not user.is_staff
    token = ApiToken.objects.get()
    assert (token.user_id, token.name, token.digest, token.prefix) == (
        user.pk,
        "registration",
        token_digest(key),
        key[:8],
    )
    assert client_with(key).get(ORDERS).json() == []


def test_register_refuses_an_email_that_is_taken_whatever_its_case(api):
    UserFactory(email="ada@example.com")
    before = database_state()

    response = api.post(
        REGISTER, {"email": "ADA@example.com", "password": "a-long-passphrase"}, format="json"
    )

    assert_error(response, 409, "email_taken", "This email is already registered.", {"email": ["taken"]})
    assert database_state() == before


@pytest.mark.parametrize(
    ("password", "messages"),
    [
        ("short", ["This password is too short. It must contain at least 8 characters."]),
        ("password", ["This password is too common."]),
        (
            "1234567",
            [
                "This password is too short. It must contain at least 8 characters.",
                "This password is too common.",
            ],
        ),
    ],
)
def test_register_refuses_a_weak_password(api, password, messages):
    response = api.post(REGISTER, {"email": "ada@example.com", "password": password}, format="json")

    assert_error(response, 400, "weak_password", " ".join(messages), {"password": messages})
    assert not User.objects.exists()
    assert not ApiToken.objects.exists()


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({}, {"email": ["This field is required."], "password": ["This field is required."]}),
        (
            {"email": "not-an-email", "password": "a-long-passphrase"},
            {"email": ["Enter a valid email address."]},
        ),
        ({"email": "ada@example.com", "password": None}, {"password": ["This field may not be null."]}),
        ({"email": "ada@example.com", "password": ""}, {"password": ["This field may not be blank."]}),
        (
            {"email": "ada@example.com", "password": "x" * 129},
            {"password": ["Ensure this field has no more than 128 characters."]},
        ),
        (
            ["ada@example.com", "a-long-passphrase"],
            {"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]},
        ),
    ],
)
def test_register_refuses_invalid_input(api, body, fields):
    response = api.post(REGISTER, body, format="json")

    assert_error(response, 400, "invalid", "The request is not valid.", fields)
    assert not User.objects.exists()


def test_register_refuses_a_body_that_is_not_json(api):
    response = api.post(REGISTER, data='{"email": "ada@example.com",', content_type="application/json")

    assert_error(
        response,
        400,
        "invalid_json",
        "JSON parse error - Expecting property name enclosed in double quotes: line 1 column 29 (char 28)",
    )
    assert not User.objects.exists()


def test_register_answers_only_post(api):
    response = api.get(REGISTER)

    assert_error(response, 405, "method_not_allowed", 'Method "GET" not allowed.')


# --- token ----------------------------------------------------------------------------------


def test_a_token_is_issued_for_the_right_password_and_works(api):
    user = UserFactory(email="bob@example.com")

    response = api.post(TOKEN, {"email": "BOB@example.com", "password": FACTORY_PASSWORD}, format="json")

    assert response.status_code == 200
    key = response.json()["token"]
    assert response.json() == {"token": key}
    assert re.fullmatch(r"[0-9a-f]{40}", key)
    token = ApiToken.objects.get()
    assert (token.user_id, token.name, token.digest) == (user.pk, "api", token_digest(key))
    assert client_with(key).get(ORDERS).json() == []


def test_each_token_call_issues_another_token_and_all_of_them_work(api):
    UserFactory(email="bob@example.com")
    credentials = {"email": "bob@example.com", "password": FACTORY_PASSWORD}

    first = api.post(TOKEN, credentials, format="json").json()["token"]
    second = api.post(TOKEN, credentials, format="json").json()["token"]

    assert first != second
    assert ApiToken.objects.count() == 2
    assert client_with(first).get(ORDERS).status_code == 200
    assert client_with(second).get(ORDERS).status_code == 200


@pytest.mark.parametrize(
    "credentials",
    [
        {"email": "bob@example.com", "password": "wrong-password"},
        {"email": "nobody@example.com", "password": FACTORY_PASSWORD},
    ],
)
def test_wrong_credentials_get_401_and_no_token(api, credentials):
    UserFactory(email="bob@example.com")
    before = database_state()

    response = api.post(TOKEN, credentials, format="json")

    assert_error(response, 401, "invalid_credentials", "Email or password is wrong.")
    assert database_state() == before


def test_a_deactivated_user_gets_no_token(api):
    UserFactory(email="bob@example.com", is_active=False)
    before = database_state()

    response = api.post(TOKEN, {"email": "bob@example.com", "password": FACTORY_PASSWORD}, format="json")

    assert_error(response, 401, "invalid_credentials", "Email or password is wrong.")
    assert database_state() == before


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"email": "bob@example.com"}, {"password": ["This field is required."]}),
        ({"email": "bob", "password": FACTORY_PASSWORD}, {"email": ["Enter a valid email address."]}),
    ],
)
def test_token_refuses_invalid_input(api, body, fields):
    UserFactory(email="bob@example.com")
    before = database_state()

    response = api.post(TOKEN, body, format="json")

    assert_error(response, 400, "invalid", "The request is not valid.", fields)
    assert database_state() == before


def test_token_refuses_a_body_that_is_not_json(api):
    response = api.post(TOKEN, data="email=bob", content_type="application/json")

    assert_error(
        response, 400, "invalid_json", "JSON parse error - Expecting value: line 1 column 1 (char 0)"
    )
    assert not ApiToken.objects.exists()


# --- authentication on every other call -----------------------------------------------------


def test_no_credentials_get_401_with_a_challenge(api):
    response = api.get(ORDERS)

    assert_error(response, 401, "not_authenticated", "Authentication credentials were not provided.")
    assert response["WWW-Authenticate"] == "Token"


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("Token " + "0" * 40, "Invalid token."),
        ("Token", "Invalid token header. No credentials provided."),
        ("Token a b", "Invalid token header. Token string should not contain spaces."),
    ],
)
def test_a_bad_token_gets_401(header, message):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)

    response = client.get(ORDERS)

    assert_error(response, 401, "authentication_failed", message)


def test_a_revoked_token_gets_401(buyer):
    token, key = api_token_create(user=buyer)
    ApiToken.objects.filter(pk=token.pk).update(revoked_at=timezone.now())

    assert_error(client_with(key).get(ORDERS), 401, "authentication_failed", "Invalid token.")


def test_the_token_of_a_deactivated_user_gets_401(buyer):
    _token, key = api_token_create(user=buyer)
    User.objects.filter(pk=buyer.pk).update(is_active=False)

    assert_error(client_with(key).get(ORDERS), 401, "authentication_failed", "Invalid token.")


def test_messages_follow_the_language_but_codes_do_not(api):
    response = api.get(ORDERS, HTTP_ACCEPT_LANGUAGE="zh-hans")

    assert_error(response, 401, "not_authenticated", "身份认证信息未提供。")


def test_an_unknown_api_path_answers_in_the_error_shape(buyer_api):
    assert_error(buyer_api.get("/api/v1/no-such-thing/"), 404, "not_found", "Not found.")
