"""Reads of the ledger."""

from django.db.models import Sum

from escrow.models import Account, Hold, HoldStatus


def account_balance(code: str) -> int:
    return Account.objects.filter(code=code).values_list("balance", flat=True).first() or 0


def held_for_beneficiary(account: Account | None) -> int:
    """Money in unsettled holds that would go to this account on release."""
    if account is None:
        return 0
    total = Hold.objects.filter(beneficiary=account, status=HoldStatus.HELD).aggregate(s=Sum("amount"))["s"]
    return int(total or 0)
