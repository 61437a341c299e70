"""Sign-up and log-in pages, through Django's test client, in Chinese by default and in English."""

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import User
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

SIGNUP = reverse("accounts:signup")
LOGIN = reverse("accounts:login")
CATALOGUE = reverse("marketplace:catalogue")


def zh_client() -> Client:
    return Client(headers={"accept-language": "zh-CN"})


def logged_in_user_id(client: Client) -> int | None:
    value = client.session.get("_auth_user_id")
    return None if value is None else int(value)


def test_signup_page_is_in_chinese_by_default_and_in_english_on_request():
    chinese = zh_client().get(SIGNUP)
    english = Client(headers={"accept-language": "en"}).get(SIGNUP)

    assert chinese.status_code == 200
    assert '<html lang="zh-hans">' in chinese.text
    assert "<h1>创建账号</h1>" in chinese.text
    assert "邮箱" in chinese.text and "密码" in chinese.text
    assert english.status_code == 200
    assert '<html lang="en">' in english.text
    assert "<h1>Create your account</h1>" in english.text
    assert "创建账号" not in english.text


def test_signup_creates_the_user_and_logs_them_in():
    client = zh_client()

    response = client.post(SIGNUP, {"email": "New.Buyer@Example.com", "password": "violet-kettle-92"})

    assert response.status_code == 302
    assert response["Location"] == CATALOGUE
    user = User.objects.get()
    assert user.email == "new.buyer@example.com"
    assert user.check_password("violet-kettle-92")
    assert logged_in_user_id(client) == user.pk


def test_signup_goes_on_to_a_next_page_on_this_site_only():
    onsite = zh_client().post(
        f"{SIGNUP}?next=/orders/", {"email": "a@example.com", "password": "violet-kettle-92"}
    )
    offsite = zh_client().post(
        f"{SIGNUP}?next=https://evil.example/steal",
        {"email": "b@example.com", "password": "violet-kettle-92"},
    )

    assert onsite.status_code == 302 and onsite["Location"] == "/orders/"
    assert offsite.status_code == 302 and offsite["Location"] == CATALOGUE
    assert User.objects.count() == 2


def test_signup_with_a_taken_email_shows_an_error_and_creates_nothing():
    existing = UserFactory(email="taken@example.com")
    client = zh_client()

    response = client.post(SIGNUP, {"email": "Taken@Example.com", "password": "violet-kettle-92"})

    assert response.status_code == 200
    assert "该邮箱已注册。" in response.text
    assert list(User.objects.values_list("pk", flat=True)) == [existing.pk]
    existing.refresh_from_db()
    assert existing.check_password("correct-horse-battery")
    assert logged_in_user_id(client) is None


def test_signup_error_for_a_taken_email_is_in_english_on_request():
    UserFactory(email="taken@example.com")

    response = Client(headers={"accept-language": "en"}).post(
        SIGNUP, {"email": "taken@example.com", "password": "violet-kettle-92"}
    )

    assert response.status_code == 200
    assert "This email is already registered." in response.text
    assert User.objects.count() == 1


@pytest.mark.parametrize("password", ["short1", "password"])
def test_signup_with_a_weak_password_creates_nothing(password):
    client = zh_client()

    response = client.post(SIGNUP, {"email": "weak@example.com", "password": password})

    assert response.status_code == 200
    assert 'class="errorlist' in response.text
    assert not User.objects.exists()
    assert logged_in_user_id(client) is None


def test_login_with_email_logs_the_user_in():
    user = UserFactory(email="buyer@example.com")
    client = zh_client()

    page = client.get(LOGIN)
    response = client.post(LOGIN, {"username": "buyer@example.com", "password": "correct-horse-battery"})

    assert page.status_code == 200
    assert "<h1>登录</h1>" in page.text
    assert response.status_code == 302
    assert response["Location"] == CATALOGUE
    assert logged_in_user_id(client) == user.pk


def test_login_follows_next():
    UserFactory(email="buyer@example.com")

    response = zh_client().post(
        LOGIN,
        {"username": "buyer@example.com", "password": "correct-horse-battery", "next": "/orders/"},
    )

    assert response.status_code == 302 and response["Location"] == "/orders/"


def test_login_with_a_wrong_password_is_refused():
    user = UserFactory(email="buyer@example.com")
    client = zh_client()

    response = client.post(LOGIN, {"username": "buyer@example.com", "password": "wrong-password"})

    assert response.status_code == 200
    assert 'class="errorlist nonfield"' in response.text
    assert logged_in_user_id(client) is None
    user.refresh_from_db()
    assert user.last_login is None
