"""Checkout, payment capture, delivery, confirmation and refunds of orders.

Public functions open their own durable transaction; `_helpers` expect the caller's transaction and
the order's row lock. Side effects (Celery tasks) are enqueued with `transaction.on_commit`.
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from accounts.models import User
from escrow.services import hold_place, hold_set_release_at, hold_settle, provider_account
from kabao.errors import Conflict, DomainError, NotFound
from marketplace.crypto import CodeDecryptionError, decrypt_code
from marketplace.models import (
    Code,
    CodeStatus,
    Order,
    OrderStatus,
    Payment,
    PaymentPurpose,
    PaymentStatus,
    Product,
)
from marketplace.payments import get_provider
from marketplace.services.deposits import deposit_payment_captured
from marketplace.services.listing import product_is_listable
from marketplace.services.refunds import refund_locked_order
from marketplace.services.transitions import order_lock, order_record, order_transition
from merchants.models import Membership
from merchants.services import merchant_available_account

logger = logging.getLogger(__name__)


def order_delivery_enqueue(order_id: int) -> None:
    """Send the delivery task once the caller's transaction commits.

    A broker that refuses the message is logged and does not undo the committed payment (`robust`):
    the redelivery sweep sends the task again (sweeps.sweep_redeliver_paid).
    """
    from marketplace.tasks import deliver_order_task

    transaction.on_commit(lambda: deliver_order_task.delay(order_id), robust=True)


def order_create(*, buyer: User, product_id: int, quantity: int, idempotency_key: str | None = None) -> Order:
    """Reserve `quantity` codes and open a payment. The same idempotency key returns the same order."""
    if (
        isinstance(quantity, bool)
        or not isinstance(quantity, int)
        or not 1 <= quantity <= settings.KABAO_MAX_ORDER_QUANTITY
    ):
        raise DomainError(
            "invalid_quantity",
            f"Quantity must be a whole number from 1 to {settings.KABAO_MAX_ORDER_QUANTITY}.",
            fields={"quantity": ["out of range"]},
        )
    if idempotency_key is not None and not 1 <= len(idempotency_key) <= 100:
        raise DomainError("invalid_idempotency_key", "Idempotency-Key must be 1 to 100 characters.")
    if idempotency_key:
        existing = _order_for_key(buyer, idempotency_key, product_id, quantity)
        if existing is not None:
            return existing
    product = Product.objects.select_related("merchant").filter(pk=product_id).first()
    # A shop short on its deposit is out of the catalogue; its products cannot be bought either.
    if product is None or not product.is_active or not product_is_listable(product):
        raise NotFound("No such product on sale.")
    if Membership.objects.filter(user=buyer, merchant=product.merchant).exists():
        raise Conflict("own_shop", "You cannot buy from your own shop.")
    try:
        return _order_create(buyer=buyer, product=product, quantity=quantity, idempotency_key=idempotency_key)
    except IntegrityError:
        if idempotency_key:  # the same key raced in from another request: answer with its order
            existing = _order_for_key(buyer, idempotency_key, product_id, quantity)
            if existing is not None:
                return existing
        raise


def _order_for_key(buyer: User, key: str, product_id: int, quantity: int) -> Order | None:
    order = Order.objects.filter(buyer=buyer, idempotency_key=key).first()
    if order is not None and (order.product_id != product_id or order.quantity != quantity):
        raise Conflict("idempotency_key_reused", "This Idempotency-Key was used for another order.")
    return order


def _order_create(*, buyer: User, product: Product, quantity: int, idempotency_key: str | None) -> Order:
    now = timezone.now()
    seconds = product.auto_confirm_seconds or settings.KABAO_AUTO_CONFIRM_SECONDS
    with transaction.atomic(durable=True):
        code_ids = list(
            Code.objects.select_for_update(skip_locked=True)
            .filter(product=product, status=CodeStatus.AVAILABLE)
            .order_by("id")
            .values_list("id", flat=True)[:quantity]
        )
        if len(code_ids) < quantity:
            raise Conflict("out_of_stock", "Not enough codes in stock for this quantity.")
        order = Order.objects.create(
            buyer=buyer,
            product=product,
            merchant=product.merchant,
            quantity=quantity,
            unit_price=product.price,
            amount=product.price * quantity,
            currency=product.currency,
            idempotency_key=idempotency_key,
            auto_confirm_seconds=seconds,
            created_at=now,
            expires_at=now + timedelta(seconds=settings.KABAO_UNPAID_EXPIRY_SECONDS),
        )
        Code.objects.filter(id__in=code_ids).update(status=CodeStatus.RESERVED, order=order)
        provider = get_provider()
        session = provider.create_payment(
            label=f"order-{order.pk}",
            amount=order.amount,
            currency=order.currency,
            idempotency_key=f"order-{order.pk}",
        )
        Payment.objects.create(
            purpose=PaymentPurpose.ORDER,
            order=order,
            payer=buyer,
            provider=provider.name,
            reference=session.reference,
            amount=order.amount,
            currency=order.currency,
        )
        order_record(order=order, event="created", actor=buyer)
    return order


# --- payment --------------------------------------------------------------------------------


def payment_captured(*, reference: str, amount: int, currency: str) -> Payment:
    """The provider says the money was captured. Safe to call any number of times, in any order.

    An order's money goes into its escrow hold; a deposit's onto the shop's deposit account.
    """
    with transaction.atomic(durable=True):
        payment = Payment.objects.filter(reference=reference).first()
        if payment is None:
            raise NotFound("No payment with this reference.")
        if payment.purpose == PaymentPurpose.DEPOSIT:
            return deposit_payment_captured(payment=payment, amount=amount, currency=currency)
        _order_payment_captured(payment=payment, amount=amount, currency=currency)
    return payment


def _order_payment_captured(*, payment: Payment, amount: int, currency: str) -> None:
    """Place the order's money in escrow; runs in payment_captured's transaction. The order's lock
    is taken before the payment's, the order every order service takes them in."""
    assert payment.order_id is not None
    order = order_lock(payment.order_id)
    payment = Payment.objects.select_for_update().get(pk=payment.pk)
    if payment.status != PaymentStatus.CREATED and payment.status != PaymentStatus.FAILED:
        return  # already captured: a replayed or late event
    payment.status = PaymentStatus.SUCCEEDED
    payment.captured_at = timezone.now()
    # The payment records what the provider captured; a mismatch with the order is refunded below.
    payment.amount, payment.currency = amount, currency
    payment.save(update_fields=["status", "captured_at", "amount", "currency"])
    clearing = provider_account(payment.provider, currency)
    hold = hold_place(
        reference=order.hold_reference,
        amount=amount,
        currency=currency,
        source=clearing,
        beneficiary=merchant_available_account(order.merchant, currency),
        refund_to=clearing,
    )
    order.hold = hold
    order.paid_at = payment.captured_at
    is_mismatch = amount != order.amount or currency != order.currency
    if is_mismatch:
        logger.error(
            "order %s: captured %s %s, expected %s %s",
            order.pk,
            amount,
            currency,
            order.amount,
            order.currency,
        )
    if order.status == OrderStatus.PENDING_PAYMENT:
        order.delivery_due_at = order.paid_at + timedelta(seconds=settings.KABAO_DELIVERY_DEADLINE_SECONDS)
        order_transition(order=order, to=OrderStatus.PAID)
        if is_mismatch:
            refund_locked_order(
                order=order, refund_amount=hold.amount, reason="amount_mismatch", return_codes=True
            )
        else:
            order_delivery_enqueue(order.pk)
    else:  # cancelled before the money came: its codes already went back to stock
        order.save(update_fields=["hold", "paid_at"])
        refund_locked_order(
            order=order, refund_amount=hold.amount, reason="paid_after_cancellation", return_codes=False
        )


def payment_failed(*, reference: str) -> None:
    with transaction.atomic(durable=True):
        payment = Payment.objects.select_for_update().filter(reference=reference).first()
        if payment is None:
            raise NotFound("No payment with this reference.")
        if payment.status == PaymentStatus.CREATED:
            payment.status = PaymentStatus.FAILED
            payment.save(update_fields=["status"])
            if payment.order is not None:  # a failed deposit payment has no timeline to write on
                order_record(order=payment.order, event="payment_failed")


# --- delivery and confirmation --------------------------------------------------------------


def order_deliver(*, order_id: int) -> Order:
    """Hand the reserved codes to the buyer. Returns early when there is nothing to do."""
    with transaction.atomic(durable=True):
        order = order_lock(order_id)
        if order.status != OrderStatus.PAID:
            return order
        codes = list(Code.objects.select_for_update().filter(order=order, status=CodeStatus.RESERVED))
        if len(codes) != order.quantity:
            refund_locked_order(
                order=order, refund_amount=order.amount, reason="codes_missing", return_codes=True
            )
            return order
        for code in codes:
            decrypt_code(
                bytes(code.ciphertext), fingerprint=code.fingerprint
            )  # fail (and retry) before promising
        now = timezone.now()
        Code.objects.filter(pk__in=[c.pk for c in codes]).update(status=CodeStatus.SOLD, sold_at=now)
        order.delivered_at = now
        order.auto_confirm_at = now + timedelta(seconds=order.auto_confirm_seconds)
        assert order.hold is not None
        hold_set_release_at(hold=order.hold, release_at=order.auto_confirm_at)
        order_transition(order=order, to=OrderStatus.DELIVERED)
    return order


@sensitive_variables("plain")
def order_codes(*, order: Order, actor: User) -> list[str]:
    """The codes in clear, for the buyer only, after delivery; the first read is recorded.

    A code that cannot be decrypted (its ciphertext altered or moved to another row, or its key
    gone) refuses the whole reveal with CodeDecryptionError (409 `code_unreadable`) and is logged
    by id, never by content: no wrong code is ever shown.
    """
    if order.buyer_id != actor.pk or order.delivered_at is None:
        return []
    codes = list(
        Code.objects.filter(order=order, status=CodeStatus.SOLD, replaced_at__isnull=True).order_by("id")
    )
    plain = []
    for code in codes:
        try:
            plain.append(decrypt_code(bytes(code.ciphertext), fingerprint=code.fingerprint))
        except CodeDecryptionError as exc:
            logger.error(
                "order %s: code %s cannot be read, reveal refused: %s", order.pk, code.pk, exc.message
            )
            raise
    if order.codes_revealed_at is None:
        with transaction.atomic():
            updated = Order.objects.filter(pk=order.pk, codes_revealed_at__isnull=True).update(
                codes_revealed_at=timezone.now()
            )
            if updated:
                order_record(order=order, event="codes_revealed", actor=actor)
        order.refresh_from_db(fields=["codes_revealed_at"])
    return plain


def order_confirm(*, order: Order, actor: User) -> Order:
    """The buyer confirms receipt: the hold is released to the merchant, minus the platform fee."""
    if order.buyer_id != actor.pk:
        raise NotFound("No such order.")
    with transaction.atomic(durable=True):
        order = order_lock(order.pk)
        if order.status != OrderStatus.DELIVERED:
            raise Conflict("invalid_state", f"An order that is {order.status} cannot be confirmed.")
        complete_locked_order(order=order, actor=actor, note="confirmed_by_buyer")
    return order


def complete_locked_order(*, order: Order, actor: User | None, note: str) -> None:
    assert order.hold is not None
    hold_settle(hold=order.hold, refund_amount=0, fee_bps=settings.KABAO_PLATFORM_FEE_BPS)
    order.completed_at = timezone.now()
    order_transition(order=order, to=OrderStatus.COMPLETED, actor=actor, note=note)
