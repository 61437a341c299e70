"""A victim's shop, orders, dispute, payout and token, built through the services, and the URL
patterns of the whole site as the resolver lists them: shared by the web security tests."""

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import cast

from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import URLPattern, URLResolver, get_resolver

from accounts.models import User
from accounts.services import api_token_create
from disputes.models import Attachment, Dispute, DisputeEvent, Offer
from disputes.services.lifecycle import dispute_open
from marketplace.models import Order, Payment, PaymentPurpose
from marketplace.services.orders import order_confirm, order_create
from marketplace.services.payments import simulated_gateway_pay
from merchants.models import Merchant, Payout
from merchants.services import payout_request
from tests.api.helpers import database_state
from tests.factories import MerchantFactory, ProductFactory, UserFactory, owner_of, stock


@dataclass(frozen=True)
class Route:
    route: str  # "orders/<int:order_id>/", as the resolver prints it, prefixes included
    name: str  # "marketplace:order"
    pattern: URLPattern

    @property
    def kwargs(self) -> list[str]:
        return re.findall(r"<(?:\w+:)?(\w+)>", self.route)

    @property
    def is_api(self) -> bool:
        return self.route.startswith("api/")

    def methods(self) -> list[str]:
        """The methods the view answers: a DRF view's handlers, else GET and POST."""
        view_class = getattr(self.pattern.callback, "cls", None) or getattr(
            self.pattern.callback, "view_class", None
        )
        if view_class is None:
            return ["GET", "POST"]
        return [m.upper() for m in ("get", "post", "put", "patch", "delete") if hasattr(view_class, m)]

    def url(self, values: dict[str, str]) -> str:
        return "/" + re.sub(r"<(?:\w+:)?(\w+)>", lambda match: values[match.group(1)], self.route)


def routes() -> Iterator[Route]:
    """Every path() pattern of the site. The only regex patterns are the admin's app index and its
    catch-all redirect, which name no object."""

    def walk(resolver: URLResolver, prefix: str, namespace: str) -> Iterator[Route]:
        for entry in resolver.url_patterns:
            if isinstance(entry, URLResolver):
                inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
                yield from walk(entry, prefix + str(entry.pattern), inner)
            elif isinstance(entry, URLPattern) and "(?P<" not in prefix + str(entry.pattern):
                yield Route(prefix + str(entry.pattern), f"{namespace}{entry.name or ''}", entry)

    yield from walk(get_resolver(), "", "")


@dataclass
class Victim:
    """Another person's things, with the strings that must never show to anyone else."""

    buyer: User
    owner: User
    merchant: Merchant
    order: Order
    dispute: Dispute
    attachment: Attachment
    deposit_payment: Payment
    payout: Payout
    token_id: int
    secrets: list[str]


def build_victim(pay) -> Victim:
    buyer = cast(User, UserFactory(email="victim.buyer@example.com"))
    merchant = cast(Merchant, MerchantFactory(shop_name="Victim Shop Zeta"))
    owner = owner_of(merchant)
    product = ProductFactory(merchant=merchant, title="Victim Card Omega")
    codes = stock(product, 3)
    order = pay(order_create(buyer=buyer, product_id=product.pk, quantity=1))
    # A second, confirmed order gives the shop an available balance to ask a payout from.
    sold = pay(order_create(buyer=buyer, product_id=product.pk, quantity=1))
    order_confirm(order=sold, actor=buyer)
    payout = payout_request(merchant=merchant, actor=owner, amount=777)
    dispute = dispute_open(
        order_id=order.pk,
        buyer=buyer,
        reason="invalid_code",
        message="victim-dispute-secret-7731",
        attachments=[SimpleUploadedFile("proof.txt", b"victim-attachment-secret-4410\n")],
    )
    _token, key = api_token_create(user=owner, name="victim automation")
    return Victim(
        buyer=buyer,
        owner=owner,
        merchant=merchant,
        order=order,
        dispute=dispute,
        attachment=Attachment.objects.get(event__dispute=dispute),
        deposit_payment=Payment.objects.get(merchant=merchant, purpose=PaymentPurpose.DEPOSIT),
        payout=payout,
        token_id=_token.pk,
        secrets=[
            buyer.email,
            owner.email,
            "Victim Shop Zeta",
            "Victim Card Omega",
            "victim-dispute-secret-7731",
            "victim-attachment-secret-4410",
            "victim automation",
            key,
            key[:8],
            *codes,
        ],
    )


def pay_order(order: Order, capture) -> Order:
    with capture(execute=True):
        simulated_gateway_pay(reference=order.payment.reference, outcome="succeeded", drop_webhook=False)
    order.refresh_from_db()
    return order


def full_state() -> dict:
    """database_state() and the disputes' rows: equal before and after means nothing changed."""
    return {
        **database_state(),
        "disputes": list(Dispute.objects.order_by("pk").values_list("pk", "status", "level", "resolution")),
        "dispute_events": DisputeEvent.objects.count(),
        "offers": list(Offer.objects.order_by("pk").values_list("pk", "status")),
        "attachments": Attachment.objects.count(),
    }
