"""Test data. Shops and stock are built through the services, as users would build them."""

import itertools

import factory
from django.conf import settings

from accounts.models import User
from marketplace.models import Game, Payment, Product
from marketplace.services.deposits import deposit_payment_start
from marketplace.services.inventory import codes_upload
from marketplace.services.orders import payment_captured
from merchants.models import Membership, MembershipRole, Merchant, MerchantStatus

_serial = itertools.count(1)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    password = factory.PostGenerationMethodCall("set_password", "correct-horse-battery")

    @classmethod
    def _after_postgeneration(cls, instance, create, results=None):
        if create:
            instance.save()


class StaffFactory(UserFactory):
    is_staff = True


class MerchantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Merchant
        skip_postgeneration_save = True

    shop_name = factory.Sequence(lambda n: f"Shop {n}")
    status = MerchantStatus.ACTIVE

    @factory.post_generation
    def owner(self, create, extracted, **kwargs):
        if create:
            owner = extracted or UserFactory()
            Membership.objects.create(merchant=self, user=owner, role=MembershipRole.OWNER)  # type: ignore[misc]

    @factory.post_generation
    def deposit(self, create, extracted, **kwargs):
        """An active shop has paid the minimum deposit, as it must to list; `deposit=0` for one that
        has not (or any other amount)."""
        amount = settings.KABAO_MIN_MERCHANT_DEPOSIT if extracted is None else extracted
        if create and amount and self.status == MerchantStatus.ACTIVE:
            pay_deposit(self, amount)


class GameFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Game
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"Game {n}")
    slug = factory.Sequence(lambda n: f"game-{n}")


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product

    merchant = factory.SubFactory(MerchantFactory)
    game = factory.SubFactory(GameFactory)
    title = factory.Sequence(lambda n: f"Card {n}")
    price = 1999
    currency = "CNY"


def owner_of(merchant: Merchant) -> User:
    return merchant.memberships.get(role=MembershipRole.OWNER).user


def pay_deposit(merchant: Merchant, amount: int) -> Payment:
    """The owner pays `amount` into the shop's deposit through the provider, and it is captured."""
    payment = deposit_payment_start(merchant=merchant, actor=owner_of(merchant), amount=amount)
    payment_captured(reference=payment.reference, amount=amount, currency=payment.currency)
    payment.refresh_from_db()
    return payment


def unique_codes(count: int) -> list[str]:
    return [f"CODE-{next(_serial):08d}-{i:04d}" for i in range(count)]


def stock(product: Product, count: int) -> list[str]:
    """Upload `count` fresh codes to the product and return them in clear."""
    codes = unique_codes(count)
    report = codes_upload(product=product, lines=codes)
    assert report.accepted == count
    return codes
