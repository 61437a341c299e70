"""Writes for merchant shops, one module per topic; reads are in `merchants.selectors`.

The names other apps import are re-exported here, so `from merchants.services import …` keeps
working whichever module a function lives in.
"""

from merchants.services.deposit import (
    merchant_deposit_credit,
    merchant_deposit_topup_notify,
    merchant_require_deposit,
)
from merchants.services.ledger import (
    merchant_available_account,
    merchant_deposit_account,
    merchant_payout_approved_account,
    merchant_payout_pending_account,
    payouts_sent_account,
)
from merchants.services.metrics import merchant_record_first_response
from merchants.services.onboarding import merchant_apply, merchant_approve, merchant_reapply, merchant_reject
from merchants.services.payouts import payout_approve, payout_mark_paid, payout_reject, payout_request

__all__ = [
    "merchant_apply",
    "merchant_approve",
    "merchant_available_account",
    "merchant_deposit_account",
    "merchant_deposit_credit",
    "merchant_deposit_topup_notify",
    "merchant_payout_approved_account",
    "merchant_payout_pending_account",
    "merchant_reapply",
    "merchant_record_first_response",
    "merchant_reject",
    "merchant_require_deposit",
    "payout_approve",
    "payout_mark_paid",
    "payout_reject",
    "payout_request",
    "payouts_sent_account",
]
