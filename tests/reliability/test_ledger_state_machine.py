"""The ledger under random operations: a Hypothesis state machine against a pure-Python model.

Every rule calls the real services on PostgreSQL: orders and the provider's capture (the hold), the
delivery task, confirmation, the auto-confirm sweep, disputes decided as full refunds, partial
refunds (a split: refund, fee, shop) or releases, after-sale refunds that draw on the shop's
available money, then its deposit (先行赔付), then the platform; payouts requested, approved, paid or
rejected (the transfer failed); deposit top-ups; replayed idempotency keys (orders, provider events,
postings). After every step the invariants are checked against the database, TigerBeetle's (every
transfer balanced; a pending transfer, our hold, resolved at most once; no balance below its floor)
and Stripe's (the same key is the same result, other parameters are refused), and every balance
against the model.

`db`, with `SET CONSTRAINTS ALL IMMEDIATE` after every step, not `transactional_db`: PostgreSQL's
deferred triggers (each posting balances per currency and has entries) run when that statement
makes the pending checks immediate, as COMMIT would run them, and `SET CONSTRAINTS ALL DEFERRED`
then restores the production mode for the next step (left immediate, a posting would be checked
the moment its row is inserted, before its entries are). The test transaction spares ten thousand
fsyncs; the work a COMMIT releases (the delivery task, emails) is run at the end of each step by
`captureOnCommitCallbacks`. Examples share the test transaction: each opens its own shop with its own
buyers, first releases what an earlier example left delivered, and snapshots the accounts every shop
shares (provider, fees, guarantee, payouts sent). A fixed seed and no shrinking: CI runs the same
~11,000 operations every time; the count is asserted at the end.
"""

import functools
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection, transaction
from django.test import TestCase, override_settings
from django.utils import timezone
from hypothesis import HealthCheck, Phase, seed
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from disputes.models import Dispute, DisputeReason, Resolution
from disputes.services.lifecycle import dispute_open, dispute_resolve
from escrow.models import Entry, Posting
from escrow.services import posting_create
from escrow.verify import ledger_verify
from kabao.errors import DomainError
from marketplace.models import Order, OrderStatus, Payment
from marketplace.services.orders import order_confirm, order_create, payment_captured
from marketplace.services.sweeps import sweep_auto_confirm
from merchants.models import Payout
from merchants.services import payout_approve, payout_mark_paid, payout_reject, payout_request
from tests.factories import (
    MerchantFactory,
    ProductFactory,
    StaffFactory,
    UserFactory,
    owner_of,
    pay_deposit,
    stock,
)

CURRENCY = settings.KABAO_CURRENCY
FEE_BPS = settings.KABAO_PLATFORM_FEE_BPS
# Smaller than the default (100,000) so that orders of up to 360,000 can exhaust a shop's available
# money and its deposit, and the platform's guarantee pays too (set for the test below).
MIN_DEPOSIT = 5_000
CLEARING = f"provider:simulated:{CURRENCY}"
FEES = f"platform:fees:{CURRENCY}"
GUARANTEE = f"platform:guarantee:{CURRENCY}"
PAYOUTS_SENT = f"external:payouts:{CURRENCY}"
SHARED = (CLEARING, FEES, GUARANTEE, PAYOUTS_SENT)
STOCK = 30
SETTLE_KINDS = ["hold_released", "hold_refunded", "hold_split"]

MAX_EXAMPLES = 160
STEPS_PER_EXAMPLE = 100
REQUIRED_STEPS = 10_000
executed = {"steps": 0, "examples": 0, "replays": 0}
by_rule: Counter[str] = Counter()


@dataclass
class ModelOrder:
    pk: int
    reference: str
    hold_reference: str
    buyer: int
    quantity: int
    amount: int
    status: str = OrderStatus.PENDING_PAYMENT
    held: int = 0  # what the hold took in (the captured amount)
    hold: str | None = None  # held, released, refunded, split
    hold_refund: int = 0
    fee: int = 0
    is_frozen: bool = False
    refunded: int = 0  # on the payment, after-sale refunds included
    dispute_pk: int | None = None

    @property
    def hold_code(self) -> str:
        return f"escrow:{self.hold_reference}"


@dataclass
class ModelPayout:
    pk: int
    amount: int
    status: str = "requested"


@dataclass
class Model:
    """Expected balances by account code, and what each order, hold and payout should be."""

    balances: dict[str, int] = field(default_factory=dict)
    orders: list[ModelOrder] = field(default_factory=list)
    payouts: list[ModelPayout] = field(default_factory=list)
    keys: dict[tuple[int, str], ModelOrder] = field(default_factory=dict)
    stock: int = STOCK

    def move(self, *lines: tuple[str, int]) -> None:
        assert sum(amount for _code, amount in lines) == 0
        for code, amount in lines:
            self.balances[code] = self.balances.get(code, 0) + amount

    def settle(self, order: ModelOrder, refund: int, available: str) -> None:
        """The hold settles: `refund` back to the provider, the rest to the shop minus the fee."""
        kept = order.held - refund
        fee = kept * FEE_BPS // 10_000  # rounded down, in the shop's favour
        net = kept - fee
        self.move((order.hold_code, -order.held), (CLEARING, refund), (available, net), (FEES, fee))
        order.hold = "released" if refund == 0 else "refunded" if refund == order.held else "split"
        order.hold_refund, order.fee = refund, fee
        order.refunded += refund


def step(operation: Callable[..., None]) -> Callable[..., None]:
    """One operation: counted, and the work it leaves for after COMMIT (the delivery task, emails)
    run as a commit would run it."""

    @functools.wraps(operation)
    def run(self: "LedgerMachine", **arguments: object) -> None:
        executed["steps"] += 1
        by_rule[operation.__name__] += 1
        with TestCase.captureOnCommitCallbacks(execute=True):
            operation(self, **arguments)

    return run


def _refused(code: str, call: Callable[[], object]) -> None:
    """The service refuses with this domain error (and, being one transaction, changes nothing)."""
    try:
        call()
    except DomainError as error:
        assert error.code == code, (error.code, code, error.message)
    else:
        raise AssertionError(f"expected the service to refuse with {code}")


def _shared_balances_verified() -> dict[str, int]:
    """The accounts every shop shares, each checked against the sum of its entries (the induction's
    start); one not created yet is 0."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT a.code, a.balance, COALESCE((SELECT SUM(e.amount) FROM escrow_entry e WHERE e.account_id = a.id), 0)
            FROM escrow_account a WHERE a.code = ANY(%s)
            """,
            [list(SHARED)],
        )
        rows = cursor.fetchall()
    for code, balance, total in rows:
        assert balance == total, f"{code} caches {balance}, its entries sum to {total}"
    found = {code: balance for code, balance, _total in rows}
    return {code: found.get(code, 0) for code in SHARED}


CHECK_SQL = """
WITH fresh AS (
    SELECT e.posting_id, e.currency, e.amount, a.code
    FROM escrow_entry e JOIN escrow_account a ON a.id = e.account_id
    WHERE e.posting_id > %(last)s
)
SELECT
    (SELECT COALESCE(MAX(id), %(last)s) FROM escrow_posting),
    (SELECT COALESCE(json_agg(posting_id), '[]') FROM (
        SELECT posting_id FROM fresh GROUP BY posting_id, currency HAVING SUM(amount) <> 0) AS u),
    (SELECT COALESCE(json_agg(p.id), '[]') FROM escrow_posting p
        WHERE p.id > %(last)s AND (SELECT COUNT(*) FROM escrow_entry e WHERE e.posting_id = p.id) < 2),
    (SELECT COALESCE(json_object_agg(code, total), '{}') FROM (
        SELECT code, SUM(amount) AS total FROM fresh GROUP BY code) AS m),
    (SELECT COALESCE(json_object_agg(currency, total), '{}') FROM (
        SELECT currency, SUM(balance) AS total FROM escrow_account GROUP BY currency) AS c),
    (SELECT COALESCE(json_object_agg(code, balance), '{}') FROM escrow_account
        WHERE NOT allow_negative AND balance < 0),
    (SELECT COALESCE(json_object_agg(code, balance), '{}') FROM escrow_account WHERE code = ANY(%(codes)s)),
    (SELECT COALESCE(json_object_agg(h.reference, json_build_array(
        h.status, h.refunded_amount, h.fee_amount, h.is_frozen,
        (SELECT COUNT(*) FROM escrow_posting sp WHERE sp.reference = h.reference AND sp.kind = ANY(%(settle_kinds)s)),
        (SELECT json_object_agg(sa.code, se.amount)
            FROM escrow_posting sp
            JOIN escrow_entry se ON se.posting_id = sp.id
            JOIN escrow_account sa ON sa.id = se.account_id
            WHERE sp.reference = h.reference AND sp.kind = ANY(%(settle_kinds)s))
    )), '{}') FROM escrow_hold h WHERE h.reference = ANY(%(holds)s)),
    (SELECT COALESCE(json_object_agg(id, status), '{}') FROM marketplace_order WHERE id = ANY(%(orders)s)),
    (SELECT COALESCE(json_object_agg(id, status), '{}') FROM merchants_payout WHERE id = ANY(%(payouts)s)),
    (SELECT COUNT(*) FROM marketplace_code WHERE product_id = %(product)s AND status = 'available')
"""


# A fixed seed, not `derandomize`: the same operations on every run, in CI and here, and an edit
# to a comment or docstring of the machine (which `derandomize` hashes) does not change them.
@seed(20261122)
class LedgerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.model = Model()
        self.is_ready = False

    # --- the shop, its buyers and the accounts every shop shares --------------------------------

    @initialize(price=st.integers(1, 120_000), extra_deposit=st.sampled_from([0, 0, 1, 50_000]))
    @step
    def open_shop(self, price: int, extra_deposit: int) -> None:
        executed["examples"] += 1
        # A delivered order an earlier example left open would be released by this example's
        # auto-confirm sweep, into the fee account this example watches: release it first.
        sweep_auto_confirm(now=timezone.now() + timedelta(days=30))
        self.last_posting = Posting.objects.order_by("-id").values_list("id", flat=True).first() or 0
        self.first_posting = self.last_posting
        self.replays_here = 0
        self.model.balances = _shared_balances_verified()
        self.seen = dict(self.model.balances)  # balances the database showed at the last check
        deposit = MIN_DEPOSIT + extra_deposit
        self.merchant = MerchantFactory(deposit=deposit)
        self.owner = owner_of(self.merchant)
        self.staff = StaffFactory()
        self.buyers = [UserFactory(), UserFactory(), self.owner]
        self.product = ProductFactory(merchant=self.merchant, price=price)
        stock(self.product, STOCK)
        prefix = f"merchant:{self.merchant.pk}"
        self.available = f"{prefix}:available:{CURRENCY}"
        self.deposit = f"{prefix}:deposit:{CURRENCY}"
        self.pending = f"{prefix}:payout_pending:{CURRENCY}"
        self.approved = f"{prefix}:payout_approved:{CURRENCY}"
        for code in (self.available, self.deposit, self.pending, self.approved):
            self.model.balances[code] = self.seen[code] = 0
        self.model.move((CLEARING, -deposit), (self.deposit, deposit))
        self.is_ready = True

    # --- helpers ---------------------------------------------------------------------------------

    def _listable(self) -> bool:
        return self.model.balances[self.deposit] >= MIN_DEPOSIT

    def _orders(self, *statuses: str) -> list[ModelOrder]:
        return [order for order in self.model.orders if order.status in statuses]

    def _refund_from_shop(self, order: ModelOrder, amount: int) -> None:
        """After release a refund is the shop's: available first, then the deposit, then the platform."""
        from_available = min(amount, self.model.balances[self.available])
        from_deposit = min(amount - from_available, self.model.balances[self.deposit])
        from_platform = amount - from_available - from_deposit
        self.model.move(
            (CLEARING, amount),
            (self.available, -from_available),
            (self.deposit, -from_deposit),
            (GUARANTEE, -from_platform),
        )
        order.refunded += amount

    def _capture(self, order: ModelOrder, *, is_short: bool) -> None:
        is_first = order.status == OrderStatus.PENDING_PAYMENT
        is_short = is_short and is_first and order.amount > 1
        captured = order.amount - 1 if is_short else order.amount
        payment_captured(reference=order.reference, amount=captured, currency=CURRENCY)
        if not is_first:
            return
        self.model.balances.setdefault(order.hold_code, 0)
        self.model.move((CLEARING, -captured), (order.hold_code, captured))
        order.held, order.hold = captured, "held"
        if is_short:
            self.model.settle(order, captured, self.available)
            order.status = OrderStatus.REFUNDED
            self.model.stock += order.quantity
        else:
            order.status = OrderStatus.DELIVERED  # by the delivery task, run on commit

    # --- orders ----------------------------------------------------------------------------------

    @rule(
        buyer=st.sampled_from([0, 0, 1, 1, 2]),
        quantity=st.integers(1, 3),
        key=st.sampled_from([None, None, "a", "b"]),
        is_paid=st.sampled_from([True, True, False]),
    )
    @step
    def buy(self, buyer: int, quantity: int, key: str | None, is_paid: bool) -> None:
        """A buyer orders (buyer 2 is the shop's owner), and mostly pays at once: the provider's
        capture places the hold, delivery follows on commit. A known Idempotency-Key is a replay."""
        user = self.buyers[buyer]

        def call() -> Order:
            return order_create(
                buyer=user, product_id=self.product.pk, quantity=quantity, idempotency_key=key
            )

        known = self.model.keys.get((buyer, key)) if key else None
        if known is not None:
            if known.quantity != quantity:
                _refused("idempotency_key_reused", call)
            else:
                assert call().pk == known.pk
        elif not self._listable():
            _refused("not_found", call)
        elif buyer == 2:
            _refused("own_shop", call)
        elif self.model.stock < quantity:
            _refused("out_of_stock", call)
        else:
            order = call()
            assert order.amount == self.product.price * quantity
            entry = ModelOrder(
                pk=order.pk,
                reference=Payment.objects.get(order=order).reference,
                hold_reference=order.hold_reference,
                buyer=buyer,
                quantity=quantity,
                amount=order.amount,
            )
            self.model.orders.append(entry)
            self.model.stock -= quantity
            if key:
                self.model.keys[(buyer, key)] = entry
            if is_paid:
                self._capture(entry, is_short=False)

    @precondition(lambda self: self.model.orders)
    @rule(pick=st.integers(0, 255), is_short=st.booleans())
    @step
    def capture(self, pick: int, is_short: bool) -> None:
        """The provider reports the payment; for an order already paid it is a replayed event.
        A capture short of the order's amount is refunded in full at once, its codes back in stock."""
        self._capture(self.model.orders[pick % len(self.model.orders)], is_short=is_short)

    @precondition(lambda self: self.model.orders)
    @rule(pick=st.integers(0, 255))
    @step
    def confirm(self, pick: int) -> None:
        order = self.model.orders[pick % len(self.model.orders)]
        db_order = Order.objects.get(pk=order.pk)
        buyer = self.buyers[order.buyer]
        if order.status != OrderStatus.DELIVERED:
            _refused("invalid_state", lambda: order_confirm(order=db_order, actor=buyer))
            return
        order_confirm(order=db_order, actor=buyer)
        self.model.settle(order, 0, self.available)
        order.status = OrderStatus.COMPLETED

    @precondition(lambda self: self._orders(OrderStatus.DELIVERED))
    @rule()
    @step
    def auto_confirm(self) -> None:
        """The protection window of every delivered order ran out; a disputed (frozen) hold stays."""
        due = self._orders(OrderStatus.DELIVERED)
        assert sweep_auto_confirm(now=timezone.now() + timedelta(days=30)) == len(due)
        for order in due:
            self.model.settle(order, 0, self.available)
            order.status = OrderStatus.COMPLETED

    # --- disputes --------------------------------------------------------------------------------

    @precondition(lambda self: self.model.orders)
    @rule(pick=st.integers(0, 255))
    @step
    def open_dispute(self, pick: int) -> None:
        """Before completion the hold freezes; after it, an after-sale claim."""
        order = self.model.orders[pick % len(self.model.orders)]
        buyer = self.buyers[order.buyer]

        def call() -> Dispute:
            return dispute_open(
                order_id=order.pk, buyer=buyer, reason=DisputeReason.NOT_RECEIVED, message="no code"
            )

        if order.status not in (OrderStatus.DELIVERED, OrderStatus.COMPLETED):
            _refused("invalid_state", call)
            return
        order.dispute_pk = call().pk
        order.is_frozen = order.hold == "held"
        order.status = OrderStatus.DISPUTED

    @precondition(lambda self: self._orders(OrderStatus.DISPUTED))
    @rule(
        pick=st.integers(0, 255),
        outcome=st.sampled_from([Resolution.REFUND, Resolution.PARTIAL_REFUND, Resolution.RELEASE]),
        part=st.integers(0, 10**6),
    )
    @step
    def decide(self, pick: int, outcome: str, part: int) -> None:
        """Staff refund in full, refund part (a split while the hold is held) or release. After
        completion the refund is the shop's: available, then deposit (先行赔付), then platform."""
        disputed = self._orders(OrderStatus.DISPUTED)
        order = disputed[pick % len(disputed)]
        assert order.dispute_pk is not None
        dispute = Dispute.objects.get(pk=order.dispute_pk)
        remaining = order.amount - order.refunded
        amount = None
        if outcome == Resolution.PARTIAL_REFUND:
            if remaining < 2:
                _refused(
                    "invalid_amount",
                    lambda: dispute_resolve(dispute=dispute, actor=self.staff, outcome=outcome, amount=1),
                )
                return
            amount = 1 + part % (remaining - 1)
        dispute_resolve(dispute=dispute, actor=self.staff, outcome=outcome, amount=amount)
        order.dispute_pk = None
        refund = remaining if outcome == Resolution.REFUND else amount or 0
        if order.hold == "held":
            if outcome == Resolution.RELEASE:
                order.is_frozen = False  # released by unfreezing, then as a confirmation
            self.model.settle(order, refund, self.available)
        elif refund:
            self._refund_from_shop(order, refund)
        if outcome == Resolution.RELEASE:
            order.status = OrderStatus.COMPLETED
        elif order.refunded == order.amount:
            order.status = OrderStatus.REFUNDED
        else:
            order.status = OrderStatus.PARTIALLY_REFUNDED

    # --- the shop's money: payouts and deposit ---------------------------------------------------

    @precondition(lambda self: self.is_ready and self.model.balances[self.available] > 0)
    @rule(kind=st.sampled_from(["all", "part", "over"]), part=st.integers(1, 10**6))
    @step
    def request_payout(self, kind: str, part: int) -> None:
        available = self.model.balances[self.available]
        amount = {"all": available, "part": 1 + part % max(available, 1), "over": available + 1}[kind]

        def call() -> Payout:
            return payout_request(merchant=self.merchant, actor=self.owner, amount=amount)

        if amount <= 0:
            _refused("invalid_amount", call)
        elif not self._listable():
            _refused("deposit_required", call)
        elif amount > available:
            _refused("insufficient_available", call)
        else:
            self.model.payouts.append(ModelPayout(pk=call().pk, amount=amount))
            self.model.move((self.available, -amount), (self.pending, amount))

    @precondition(lambda self: self.model.payouts)
    @rule(pick=st.integers(0, 255), action=st.sampled_from(["approve", "pay", "reject"]))
    @step
    def decide_payout(self, pick: int, action: str) -> None:
        """Staff approve, mark paid or reject (the transfer failed); the same click again is a no-op."""
        payout = self.model.payouts[pick % len(self.model.payouts)]
        db_payout = Payout.objects.get(pk=payout.pk)
        calls = {
            "approve": lambda: payout_approve(payout=db_payout, actor=self.staff),
            "pay": lambda: payout_mark_paid(payout=db_payout, actor=self.staff, external_reference="bank-1"),
            "reject": lambda: payout_reject(payout=db_payout, actor=self.staff, reason="bank refused"),
        }
        moves = {
            ("approve", "requested"): "approved",
            ("pay", "approved"): "paid",
            ("reject", "requested"): "rejected",
            ("reject", "approved"): "rejected",
        }
        target = moves.get((action, payout.status))
        if target is None:
            if (action, payout.status) in (("approve", "approved"), ("pay", "paid")):
                calls[action]()
            else:
                _refused("invalid_state", calls[action])
            return
        calls[action]()
        accounts = {
            "requested": self.pending,
            "approved": self.approved,
            "paid": PAYOUTS_SENT,
            "rejected": self.available,
        }
        self.model.move((accounts[payout.status], -payout.amount), (accounts[target], payout.amount))
        payout.status = target

    @precondition(lambda self: self.is_ready and not self._listable())
    @rule(amount=st.integers(1, 150_000), is_replayed=st.booleans())
    @step
    def top_up_deposit(self, amount: int, is_replayed: bool) -> None:
        payment = pay_deposit(self.merchant, amount)
        self.model.move((CLEARING, -amount), (self.deposit, amount))
        if is_replayed:  # the provider's event again credits nothing more
            payment_captured(reference=payment.reference, amount=amount, currency=CURRENCY)

    # At most one replay for every two postings of the example: enough to replay every kind, without
    # crowding out the operations that move money.
    @precondition(
        lambda self: self.is_ready and 2 * self.replays_here < self.last_posting - self.first_posting
    )
    @rule(pick=st.integers(0, 255), is_same=st.booleans())
    @step
    def replay_posting(self, pick: int, is_same: bool) -> None:
        """A posting's key again: with the same lines it is the same posting, with others refused."""
        # This example's postings are the ids after its first, up to the last one checked (one
        # connection writes them; a rolled-back insert leaves a gap, so take the next one that exists).
        target = self.first_posting + 1 + pick % (self.last_posting - self.first_posting)
        posting = Posting.objects.filter(id__gte=target).order_by("id").first()
        assert posting is not None
        posting_id, key, kind = posting.pk, posting.idempotency_key, posting.kind
        entries = Entry.objects.filter(posting_id=posting_id).select_related("account")
        sign = 1 if is_same else -1
        lines = [(entry.account, sign * entry.amount) for entry in entries]
        executed["replays"] += 1
        self.replays_here += 1
        with transaction.atomic(durable=True):
            if is_same:
                assert posting_create(idempotency_key=key, kind=kind, lines=lines).pk == posting_id
            else:
                _refused(
                    "idempotency_key_reused",
                    lambda: posting_create(idempotency_key=key, kind=kind, lines=lines),
                )

    # --- the invariants, after every step --------------------------------------------------------

    @invariant()
    def every_invariant_holds(self) -> None:
        if not self.is_ready:
            return
        held_orders = [order for order in self.model.orders if order.hold]
        with connection.cursor() as cursor:
            # One round trip: the checks below, then what COMMIT does (the deferred triggers run on
            # everything written since the last step, raising here if a posting does not balance),
            # then deferred again for the next step.
            cursor.execute(
                CHECK_SQL + "; SET CONSTRAINTS ALL IMMEDIATE; SET CONSTRAINTS ALL DEFERRED",
                {
                    "last": self.last_posting,
                    "codes": list(self.model.balances),
                    "holds": [order.hold_reference for order in held_orders],
                    "settle_kinds": SETTLE_KINDS,
                    "orders": [order.pk for order in self.model.orders],
                    "payouts": [payout.pk for payout in self.model.payouts],
                    "product": self.product.pk,
                },
            )
            (
                last,
                unbalanced,
                thin,
                moved,
                totals,
                below_floor,
                balances,
                holds,
                orders,
                payouts,
                stock_left,
            ) = cursor.fetchone()
        # TigerBeetle: every transfer balanced; no balance below its floor; money neither made nor lost.
        assert unbalanced == [], f"postings that do not sum to zero per currency: {unbalanced}"
        assert thin == [], f"postings with fewer than two entries: {thin}"
        assert below_floor == {}, f"accounts below their floor: {below_floor}"
        assert {currency: 0 for currency in totals} == totals, f"balances per currency: {totals}"
        # The entries of this step touched only accounts the model knows, and each balance moved by
        # exactly its new entries: balance == sum of its entries, by induction from a verified start.
        assert set(moved) <= set(self.model.balances), f"money moved on unknown accounts: {moved}"
        for code in self.model.balances:
            assert balances.get(code, 0) == self.seen.get(code, 0) + moved.get(code, 0), code
        # The pure-Python model agrees with the database, account by account.
        assert {code: balances.get(code, 0) for code in self.model.balances} == self.model.balances
        self.seen = {code: balances.get(code, 0) for code in self.model.balances}
        self.last_posting = last
        # A pending transfer (hold) is resolved at most once, and its money is conserved.
        for order in held_orders:
            status, refunded, fee, is_frozen, settle_count, settle_lines = holds[order.hold_reference]
            assert (status, refunded, fee, is_frozen) == (
                order.hold,
                order.hold_refund,
                order.fee,
                order.is_frozen,
            )
            if order.hold == "held":
                assert (settle_count, settle_lines) == (0, None), order.hold_reference
            else:
                net = order.held - order.hold_refund - order.fee
                expected = {
                    order.hold_code: -order.held,
                    CLEARING: order.hold_refund,
                    self.available: net,
                    FEES: order.fee,
                }
                assert settle_count == 1, order.hold_reference
                assert settle_lines == {code: amount for code, amount in expected.items() if amount}
        assert orders == {str(order.pk): order.status for order in self.model.orders}
        assert payouts == {str(payout.pk): payout.status for payout in self.model.payouts}
        assert stock_left == self.model.stock


COVERAGE_SQL = """
SELECT
    (SELECT json_object_agg(kind, n) FROM (
        SELECT kind, COUNT(*) AS n FROM escrow_posting WHERE kind <> 'test' GROUP BY kind) AS k),
    (SELECT COUNT(DISTINCT e.posting_id) FROM escrow_entry e
        JOIN escrow_posting p ON p.id = e.posting_id JOIN escrow_account a ON a.id = e.account_id
        WHERE p.kind = 'after_sale_refund' AND a.kind = 'merchant_deposit'),
    (SELECT COUNT(DISTINCT e.posting_id) FROM escrow_entry e
        JOIN escrow_posting p ON p.id = e.posting_id JOIN escrow_account a ON a.id = e.account_id
        WHERE p.kind = 'after_sale_refund' AND a.code LIKE 'platform:guarantee:%%')
"""


@pytest.mark.django_db
@override_settings(KABAO_MIN_MERCHANT_DEPOSIT=MIN_DEPOSIT)
def test_ten_thousand_random_operations_keep_every_ledger_invariant() -> None:
    executed.update(steps=0, examples=0, replays=0)
    by_rule.clear()
    run_state_machine_as_test(
        LedgerMachine,
        settings=hypothesis_settings(
            max_examples=MAX_EXAMPLES,
            stateful_step_count=STEPS_PER_EXAMPLE,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow],
            # No shrinking: with the database under every step it takes many minutes. A failure
            # prints its whole program of steps, and the seed replays it exactly.
            phases=[Phase.explicit, Phase.generate],
        ),
    )
    report = ledger_verify()  # the whole ledger once more: every posting, balance, hold, the chain
    with connection.cursor() as cursor:
        cursor.execute(COVERAGE_SQL)
        kinds, deposit_draws, guarantee_draws = cursor.fetchone()
    print(
        f"ledger state machine: {executed['steps']} operations in {executed['examples']} examples "
        f"({dict(by_rule)}); postings by kind {kinds}; after-sale refunds drawing on the deposit "
        f"{deposit_draws}, on the platform {guarantee_draws}; {executed['replays']} postings replayed; "
        f"verified {report}"
    )
    assert executed["steps"] >= REQUIRED_STEPS
    # Every path of money was taken, not only the easy ones.
    for kind in (
        "hold_place",
        "hold_released",
        "hold_refunded",
        "hold_split",
        "after_sale_refund",
        "merchant_deposit",
        "payout_requested",
        "payout_approved",
        "payout_paid",
        "payout_rejected",
    ):
        assert kinds.get(kind, 0) > 0, kind
    assert deposit_draws > 0 and guarantee_draws > 0 and executed["replays"] > 0
