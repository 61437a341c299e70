"""Demo data for the embedded run: games, an approved shop that paid its deposit, stocked products,
three logins."""

import secrets
from functools import partial
from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.models import User
from marketplace.models import Game, Product
from marketplace.services.deposits import deposit_payment_start
from marketplace.services.inventory import codes_upload, product_create
from marketplace.services.payments import payment_refresh, simulated_gateway_pay
from merchants.models import Merchant
from merchants.selectors import merchant_deposit_status
from merchants.services import merchant_apply, merchant_approve

LOGINS = [
    ("admin@kabao.local", "kabao-admin-demo", "admin / arbitrator"),
    ("merchant@kabao.local", "kabao-merchant-demo", "merchant (shop 星辰卡铺)"),
    ("buyer@kabao.local", "kabao-buyer-demo", "buyer"),
]
GAMES = [
    ("steam", "Steam"),
    ("genshin", "原神 Genshin Impact"),
    ("psn", "PlayStation Network"),
    ("app-store", "App Store"),
]
PRODUCTS = [
    ("steam", "Steam 钱包充值卡 ¥50", 4800, "¥50", "CN"),
    ("steam", "Steam 钱包充值卡 ¥100", 9500, "¥100", "CN"),
    ("genshin", "原神 创世结晶 6480", 58800, "6480", "Asia"),
    ("psn", "PSN Card HK$200", 17900, "HK$200", "HK"),
    ("app-store", "App Store 充值卡 ¥100", 9800, "¥100", "CN"),
]


class Command(BaseCommand):
    help = "Load demo games, a shop with products and codes, and demo logins (idempotent)."

    def handle(self, *args: Any, **options: Any) -> None:
        admin_email, merchant_email = LOGINS[0][0], LOGINS[1][0]
        users = {}
        for email, password, _role in LOGINS:
            user = User.objects.filter(email=email).first()
            if user is None:
                user = User.objects.create_user(
                    email=email,
                    password=password,
                    is_staff=email == admin_email,
                    is_superuser=email == admin_email,
                )
            users[email] = user
        for slug, name in GAMES:
            Game.objects.get_or_create(slug=slug, defaults={"name": name})
        merchant = Merchant.objects.filter(memberships__user=users[merchant_email]).first()
        if merchant is None:
            merchant = merchant_apply(owner=users[merchant_email], shop_name="星辰卡铺 Star Cards")
        merchant = merchant_approve(merchant=merchant, actor=users[admin_email])
        _pay_deposit(merchant, users[merchant_email])
        if not Product.objects.filter(merchant=merchant).exists():
            with transaction.atomic():
                for slug, title, price, face_value, region in PRODUCTS:
                    product = product_create(
                        merchant=merchant,
                        title=title,
                        price=price,
                        game=Game.objects.get(slug=slug),
                        face_value=face_value,
                        region=region,
                        code_pattern=r"[A-Z0-9]{4}(-[A-Z0-9]{4}){3}",
                        auto_confirm_seconds=3600,
                    )
                    transaction.on_commit(partial(_stock, product.pk))
        self.stdout.write("Demo logins:")
        for email, password, role in LOGINS:
            self.stdout.write(f"  {role:<26} {email:<24} {password}")


def _stock(product_pk: int) -> None:
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    codes = [
        "-".join("".join(secrets.choice(alphabet) for _ in range(4)) for _ in range(4)) for _ in range(25)
    ]
    codes_upload(product=Product.objects.select_related("merchant").get(pk=product_pk), lines=codes)


def _pay_deposit(merchant: Merchant, owner: User) -> None:
    """The shop pays its security deposit as any shop does: a provider payment, paid at the
    (simulated) gateway and confirmed by asking the provider, so the demo needs no worker yet."""
    shortfall = merchant_deposit_status(merchant).shortfall
    if shortfall:
        payment = deposit_payment_start(merchant=merchant, actor=owner, amount=shortfall)
        simulated_gateway_pay(reference=payment.reference, outcome="succeeded", drop_webhook=True)
        payment_refresh(payment=payment)
