"""IDOR sweep: every URL pattern that names an object, found through the URL resolver (so a new
endpoint is swept without editing this file), tried by another shop's owner and by another buyer
with the victim's ids. A private object answers exactly as a missing one (404: no existence
oracle), shows none of the victim's data, and nothing changes; staff pages refuse non-staff the
same way for every id."""

import json
import re

import pytest
from django.contrib.contenttypes.models import ContentType
from django.test import Client
from rest_framework.test import APIClient

from accounts.services import api_token_create
from marketplace.models import Order
from tests.factories import MerchantFactory, UserFactory, owner_of
from tests.security.web_world import Route, Victim, build_victim, full_state, pay_order, routes

pytestmark = pytest.mark.django_db

# Patterns anyone may read with any id, and why. Every other pattern with an id is private.
PUBLIC = {
    "marketplace:product": "a listed product's page is the catalogue",
    "marketplace:checkout": "any signed-in buyer may buy any listed product",
    "api:product": "a listed product is the catalogue",
    "api:merchant-public": "a shop's public profile and trust figures (API.md)",
    "simulated-gateway": "the unguessable payment reference is the capability (API.md); a test gateway",
}
STAFF_PREFIXES = ("staff/", "api/v1/admin/", "admin/")
MISSING_ID = "2000000000"
# One body for every POST/PATCH: each field some endpoint needs to get past its input checks to
# the object lookup (an IDOR would otherwise hide behind a 400).
API_BODY = {
    "message": "attacker was here",
    "reason": "other",
    "kind": "refund",
    "outcome": "refund",
    "note": "attacker",
    "amount": 1,
    "codes": ["ATTACKER-CODE-1"],
    "title": "pwned",
    "is_active": False,
    "external_reference": "attacker",
}
FORM_BODY = {
    "action": "message",
    "message": "attacker was here",
    "reason": "other",
    "quantity": "1",
    "outcome": "refund",
    "is_active": "0",
    "codes": "ATTACKER-CODE-1",
    "title": "pwned",
    "price": "1.00",
    "amount": "1.00",
}


def id_values(victim: Victim) -> dict[str, str]:
    return {
        "order_id": str(victim.order.pk),
        "product_id": str(victim.order.product_id),
        "dispute_id": str(victim.dispute.pk),
        "attachment_id": str(victim.attachment.pk),
        "payment_id": str(victim.deposit_payment.pk),
        "token_id": str(victim.token_id),
        "merchant_id": str(victim.merchant.pk),
        "payout_id": str(victim.payout.pk),
        "reference": victim.order.payment.reference,
        "decision": "approve",
        # the admin's change, history and delete pages, and its view-on-site shortcut
        "object_id": str(victim.order.pk),
        "id": str(victim.buyer.pk),  # the admin's password page of a user
        "content_type_id": str(ContentType.objects.get_for_model(Order).pk),
    }


def missing_values(values: dict[str, str]) -> dict[str, str]:
    return {
        name: (
            "approve" if name == "decision" else "no-such-reference" if name == "reference" else MISSING_ID
        )
        for name in values
    }


def body_of(response) -> str:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content).decode("utf-8", "replace")
    return response.content.decode("utf-8", "replace")


def normalized(response, url: str) -> str:
    """The answer with what legitimately differs between two ids taken out: the requested path
    (the language form echoes it) and the per-response CSRF token."""
    text = body_of(response)
    text = re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', 'name="csrfmiddlewaretoken"', text)
    text = text.replace(url, "<url>")
    return text


def send(route: Route, method: str, url: str, browser: Client, api: APIClient):
    if route.is_api:
        if method == "GET":
            return api.get(url)
        return api.generic(method, url, json.dumps(API_BODY), content_type="application/json")
    if method == "GET":
        return browser.get(url)
    return browser.post(url, FORM_BODY)


def expected_refusal(route: Route, attacker: str, response) -> bool:
    """The status a refusal of this attacker may take on this route, whatever the id."""
    status = response.status_code
    if route.route.startswith("admin/"):  # Django's admin: to its login page
        return status == 302 and response["Location"].startswith("/admin/login/")
    if route.route.startswith(STAFF_PREFIXES):
        return status == 403
    if status in (404, 405):
        return True
    if attacker == "buyer":  # a shop's page for someone without a shop: refused before any lookup
        if route.is_api:
            return status == 403 and response.json()["error"]["code"] == "not_a_merchant"
        return status == 302 and response["Location"] == "/merchant/apply/"
    return False


def object_routes() -> list[Route]:
    return [route for route in routes() if route.kwargs]


def test_the_sweep_finds_every_object_endpoint():
    """The sweep is only as good as its list: it holds the site's object pages and API calls, and
    every name in PUBLIC is a real pattern (a renamed one would silently become public)."""
    found = {route.name for route in object_routes()}
    assert set(PUBLIC) <= found
    for name in [
        "marketplace:order",
        "marketplace:order-reveal",
        "disputes:attachment",
        "disputes:evidence-json",
        "merchant:inventory",
        "merchant:token-revoke",
        "api:order",
        "api:dispute-attachment",
        "api:merchant-codes",
        "api:merchant-payout",
        "api:staff-payout-paid",
        "stripe-pay",
    ]:
        assert name in found
    assert len(found) >= 60  # ~40 of ours and the admin's change/delete/history pages


def test_another_shop_and_another_buyer_get_404_for_every_object_of_the_victim(
    django_capture_on_commit_callbacks, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    victim = build_victim(lambda order: pay_order(order, django_capture_on_commit_callbacks))
    rival_shop = MerchantFactory(shop_name="Rival Shop")
    attackers = {"shop": owner_of(rival_shop), "buyer": UserFactory()}
    values = id_values(victim)
    missing = missing_values(values)
    sessions = {}
    for attacker_kind, attacker in attackers.items():
        browser = Client()
        browser.force_login(attacker)
        api = APIClient()
        api.credentials(HTTP_AUTHORIZATION=f"Token {api_token_create(user=attacker)[1]}")
        sessions[attacker_kind] = (browser, api)
    before = full_state()

    failures = []
    requests = 0
    for attacker_kind, (browser, api) in sessions.items():
        for route in object_routes():
            if route.name in PUBLIC:
                continue
            unknown = set(route.kwargs) - set(values)
            if unknown:
                failures.append(f"{route.route}: no victim object for {sorted(unknown)}: add it to id_values")
                continue
            methods = ["GET"] if route.route.startswith("admin/") else route.methods()
            for method in methods:
                victim_url, missing_url = route.url(values), route.url(missing)
                answer = send(route, method, victim_url, browser, api)
                baseline = send(route, method, missing_url, browser, api)
                requests += 2
                where = f"{attacker_kind} {method} {victim_url} ({route.name})"
                if answer.status_code != baseline.status_code:
                    failures.append(f"{where}: {answer.status_code}, a missing id {baseline.status_code}")
                    continue
                if not expected_refusal(route, attacker_kind, answer):
                    failures.append(f"{where}: answered {answer.status_code}")
                    continue
                text = normalized(answer, victim_url)
                if text != normalized(baseline, missing_url):
                    failures.append(f"{where}: the answer differs from a missing id's")
                leaked = [secret for secret in victim.secrets if secret in text]
                if leaked:
                    failures.append(f"{where}: shows {leaked}")

    assert failures == [], "\n".join(failures)
    assert requests >= 400
    assert full_state() == before


def test_staff_pages_and_calls_refuse_everyone_else(django_capture_on_commit_callbacks, settings, tmp_path):
    """Every staff route, with or without an id, as the resolver lists them: a shop's owner and a
    buyer are refused (the admin sends them to its login) and see none of what staff see."""
    settings.MEDIA_ROOT = tmp_path
    victim = build_victim(lambda order: pay_order(order, django_capture_on_commit_callbacks))
    MerchantFactory(shop_name="Pending Applicant Shop", status="pending", deposit=0)
    secrets = [*victim.secrets, "Pending Applicant Shop"]
    values = id_values(victim)
    # The admin's own login and logout pages are for everyone.
    staff_routes = [
        route
        for route in routes()
        if route.route.startswith(STAFF_PREFIXES) and route.name not in ("admin:login", "admin:logout")
    ]
    sessions = []
    for user in (owner_of(MerchantFactory(shop_name="Rival Shop")), UserFactory()):
        browser, api = Client(), APIClient()
        browser.force_login(user)
        api.credentials(HTTP_AUTHORIZATION=f"Token {api_token_create(user=user)[1]}")
        sessions.append((browser, api))
    before = full_state()

    answers: dict[str, int] = {}
    failures = []
    for browser, api in sessions:
        for route in staff_routes:
            methods = ["GET"] if route.route.startswith("admin/") else route.methods()
            for method in methods:
                url = route.url(values)
                response = send(route, method, url, browser, api)
                answers[f"{method} {route.route}"] = response.status_code
                refused = expected_refusal(route, "shop", response) and response.status_code != 405
                if route.name == "disputes:queue":  # the arbitration queue hides itself: 404
                    refused = response.status_code == 404
                leaked = [secret for secret in secrets if secret in normalized(response, url)]
                if not refused or leaked:
                    failures.append(f"{method} {url} ({route.name}): {response.status_code} {leaked}")

    assert failures == [], "\n".join(failures)
    assert answers["GET staff/merchants/"] == 403
    assert answers["GET api/v1/admin/payouts/"] == 403
    assert answers["GET admin/"] == 302
    assert len(staff_routes) >= 90
    assert full_state() == before
