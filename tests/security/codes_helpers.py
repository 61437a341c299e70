"""Shared by the codes' security tests: codes no other text can contain, and a search for them."""

import secrets

from django.test import Client
from rest_framework.test import APIClient

from accounts.models import User
from accounts.services import api_token_create
from marketplace.models import Product
from tests.factories import MerchantFactory, ProductFactory, owner_of


def fresh_codes(count: int) -> list[str]:
    """Codes no other text can contain by chance."""
    tag = secrets.token_hex(5).upper()
    return [f"SEC{tag}-{number:04d}" for number in range(count)]


def leaked(codes: list[str], text: str) -> list[str]:
    """The codes found in `text`, in clear or as the hex of their bytes."""
    return [code for code in codes if code in text or code.encode().hex() in text.lower()]


def api_client(user: User, **options) -> APIClient:
    _token, key = api_token_create(user=user)
    client = APIClient(**options)
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def page_client(user: User, **options) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE="en", **options)
    client.force_login(user)
    return client


def shop_with_product(**product_fields) -> tuple[User, Product]:
    merchant = MerchantFactory()
    return owner_of(merchant), ProductFactory(merchant=merchant, **product_fields)
