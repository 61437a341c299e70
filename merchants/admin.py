"""Back-office tables for shops and payouts. Decisions go through the same services as the staff
pages and the API; the admin's action bar carries the reason or transfer reference they need."""

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts.models import User
from kabao.admin_mixins import ReadOnlyAdminMixin
from kabao.errors import DomainError
from merchants.models import FirstResponseSample, Membership, Merchant, Payout, PayoutEvent
from merchants.services import (
    merchant_approve,
    merchant_reject,
    payout_approve,
    payout_mark_paid,
    payout_reject,
)


class NoteActionForm(ActionForm):
    note = forms.CharField(
        required=False,
        max_length=500,
        label="Reason / reference",
        help_text="The reason for a rejection, or the transfer reference of a payout marked paid.",
    )


def _each(
    model_admin: admin.ModelAdmin,
    request: HttpRequest,
    queryset: QuerySet,
    act: Callable[[Any], Any],
    done: str,
) -> None:
    succeeded = 0
    for row in queryset:
        try:
            act(row)
            succeeded += 1
        except DomainError as exc:
            model_admin.message_user(request, f"{row}: {exc.message}", messages.ERROR)
    if succeeded:
        model_admin.message_user(request, f"{done}: {succeeded}.")


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    raw_id_fields = ("user",)


@admin.register(Merchant)
class MerchantAdmin(admin.ModelAdmin):
    list_display = ("shop_name", "status", "contact", "created_at", "approved_at", "rejected_at")
    list_filter = ("status",)
    search_fields = ("shop_name", "contact")
    readonly_fields = (
        "status",
        "approved_at",
        "approved_by",
        "rejected_at",
        "rejected_by",
        "rejection_reason",
        "deposit_topup_requested_at",
    )
    inlines = [MembershipInline]
    actions = ["approve", "reject"]
    action_form = NoteActionForm

    @admin.action(description="Approve the selected shops")
    def approve(self, request: HttpRequest, queryset: QuerySet[Merchant]) -> None:
        actor: User = request.user  # type: ignore[assignment]
        _each(self, request, queryset, lambda shop: merchant_approve(merchant=shop, actor=actor), "Approved")

    @admin.action(description="Reject the selected shops (give the reason in the box)")
    def reject(self, request: HttpRequest, queryset: QuerySet[Merchant]) -> None:
        actor: User = request.user  # type: ignore[assignment]
        reason = request.POST.get("note", "")
        _each(
            self,
            request,
            queryset,
            lambda shop: merchant_reject(merchant=shop, actor=actor, reason=reason),
            "Rejected",
        )


class PayoutEventInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = PayoutEvent
    extra = 0


@admin.register(Payout)
class PayoutAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("id", "merchant", "amount", "currency", "status", "requested_at", "decided_at", "paid_at")
    list_filter = ("status",)
    search_fields = ("merchant__shop_name", "external_reference")
    inlines = [PayoutEventInline]
    actions = ["approve", "mark_paid", "reject"]
    action_form = NoteActionForm

    @admin.action(description="Approve the selected payouts")
    def approve(self, request: HttpRequest, queryset: QuerySet[Payout]) -> None:
        actor: User = request.user  # type: ignore[assignment]
        _each(self, request, queryset, lambda payout: payout_approve(payout=payout, actor=actor), "Approved")

    @admin.action(description="Mark the selected payouts as paid out (transfer reference in the box)")
    def mark_paid(self, request: HttpRequest, queryset: QuerySet[Payout]) -> None:
        actor: User = request.user  # type: ignore[assignment]
        reference = request.POST.get("note", "")
        _each(
            self,
            request,
            queryset,
            lambda payout: payout_mark_paid(payout=payout, actor=actor, external_reference=reference),
            "Marked paid",
        )

    @admin.action(description="Reject the selected payouts (give the reason in the box)")
    def reject(self, request: HttpRequest, queryset: QuerySet[Payout]) -> None:
        actor: User = request.user  # type: ignore[assignment]
        reason = request.POST.get("note", "")
        _each(
            self,
            request,
            queryset,
            lambda payout: payout_reject(payout=payout, actor=actor, reason=reason),
            "Rejected",
        )


@admin.register(FirstResponseSample)
class FirstResponseSampleAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("merchant", "seconds", "recorded_at")
