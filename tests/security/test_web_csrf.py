"""CSRF: every browser URL pattern (found through the URL resolver) refuses a POST without a CSRF
token with 403 and changes nothing, signed in as the user the page would act for; API calls made
with the session cookie need the token too (DRF's SessionAuthentication), while token-authenticated
calls carry no ambient authority and need none."""

import pytest
from django.test import Client
from rest_framework.authentication import SessionAuthentication
from rest_framework.test import APIClient

from accounts.models import User
from accounts.services import api_token_create
from marketplace.models import OrderStatus
from marketplace.services.orders import order_create
from tests.factories import MerchantFactory
from tests.security.test_web_idor import FORM_BODY, id_values
from tests.security.web_world import Route, Victim, build_victim, full_state, pay_order, routes

pytestmark = pytest.mark.django_db

# Browser patterns that take a POST without a CSRF token, and why.
CSRF_EXEMPT = {
    "simulated-gateway": "stands for an outside payment site that scripts POST to (API.md); the "
    "unguessable payment reference is the capability, and no session is used",
}
BUYER_PREFIXES = ("orders/", "disputes/", "pay/", "api/v1/orders/", "api/v1/disputes/")


@pytest.fixture
def world(django_capture_on_commit_callbacks, settings, tmp_path) -> Victim:
    """The shop's owner is also staff, so one of the two users may act on every page."""
    settings.MEDIA_ROOT = tmp_path
    world = build_victim(lambda order: pay_order(order, django_capture_on_commit_callbacks))
    User.objects.filter(pk=world.owner.pk).update(is_staff=True)
    world.owner.refresh_from_db()
    MerchantFactory(status="pending", deposit=0)  # an application for staff to decide
    return world


def actor_for(route: Route, world: Victim) -> User:
    return world.buyer if route.route.startswith(BUYER_PREFIXES) else world.owner


def signed_in(user: User, *, api: bool = False) -> Client:
    client = APIClient(enforce_csrf_checks=True) if api else Client(enforce_csrf_checks=True)
    client.force_login(user)
    return client


def uses_session(route: Route) -> bool:
    view_class = route.pattern.callback.cls
    return any(isinstance(auth, SessionAuthentication) for auth in view_class().get_authenticators())


def test_every_browser_form_refuses_a_post_without_a_csrf_token(world):
    values = id_values(world)
    browser_routes = [route for route in routes() if not route.is_api]
    assert set(CSRF_EXEMPT) <= {route.name for route in browser_routes}
    clients = {user.pk: signed_in(user) for user in (world.buyer, world.owner)}
    before = full_state()

    refused, failures = 0, []
    for route in browser_routes:
        if route.name in CSRF_EXEMPT:
            continue
        url = route.url(values)
        response = clients[actor_for(route, world).pk].post(url, FORM_BODY)
        if response.status_code == 403 and b"CSRF" in response.content:
            refused += 1
        else:
            failures.append(f"POST {url} ({route.name}): {response.status_code}")

    assert failures == [], "\n".join(failures)
    assert refused >= 90  # ours (~30) and the admin's forms
    assert full_state() == before


def test_the_same_post_with_the_token_goes_through(world, django_capture_on_commit_callbacks):
    """The refusal above is the token's doing: the buyer's confirm of a delivered order, refused
    without it, completes the order with it."""
    order = pay_order(
        order_create(buyer=world.buyer, product_id=world.order.product_id, quantity=1),
        django_capture_on_commit_callbacks,
    )
    assert order.status == OrderStatus.DELIVERED
    browser = signed_in(world.buyer)
    browser.get(f"/orders/{order.pk}/")
    confirm = f"/orders/{order.pk}/confirm/"

    without = browser.post(confirm)
    order.refresh_from_db()
    assert (without.status_code, order.status) == (403, OrderStatus.DELIVERED)

    with_token = browser.post(confirm, {"csrfmiddlewaretoken": browser.cookies["csrftoken"].value})
    order.refresh_from_db()
    assert (with_token.status_code, with_token["Location"]) == (302, f"/orders/{order.pk}/")
    assert order.status == OrderStatus.COMPLETED


def test_api_calls_with_the_session_cookie_need_the_csrf_token(world):
    values = id_values(world)
    api_routes = [route for route in routes() if route.is_api and hasattr(route.pattern.callback, "cls")]
    cookieless = {route.name for route in api_routes if not uses_session(route)}
    # Only the calls that take no credentials at all read no cookie: sign-up, token, webhooks.
    assert cookieless == {"api:register", "api:token", "api:webhook-simulated", "api:webhook-stripe"}
    clients = {user.pk: signed_in(user, api=True) for user in (world.buyer, world.owner)}
    before = full_state()

    refused, failures = 0, []
    for route in api_routes:
        if route.name in cookieless:
            continue
        for method in route.methods():
            if method == "GET":
                continue
            url = route.url(values)
            client = clients[actor_for(route, world).pk]
            response = client.generic(method, url, "{}", content_type="application/json")
            body = response.json() if response["Content-Type"] == "application/json" else {}
            if (
                response.status_code == 403
                and body.get("error", {}).get("code") == "permission_denied"
                and (body["error"]["message"].startswith("CSRF Failed"))
            ):
                refused += 1
            else:
                failures.append(f"{method} {url} ({route.name}): {response.status_code} {body}")

    assert failures == [], "\n".join(failures)
    assert refused >= 20
    assert full_state() == before


def test_a_token_authenticated_call_needs_no_csrf_token(buyer, stocked_product):
    """A token is sent deliberately by a script; no other site can make a browser send it."""
    client = APIClient(enforce_csrf_checks=True)
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_token_create(user=buyer)[1]}")

    response = client.post("/api/v1/orders/", {"product": stocked_product.pk, "quantity": 1}, format="json")

    assert response.status_code == 201
    assert response.json()["status"] == "pending_payment"
