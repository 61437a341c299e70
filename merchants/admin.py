from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from kabao.errors import DomainError
from merchants.models import Membership, Merchant
from merchants.services import merchant_approve


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    raw_id_fields = ("user",)


@admin.register(Merchant)
class MerchantAdmin(admin.ModelAdmin):
    list_display = ("shop_name", "status", "created_at", "approved_at")
    list_filter = ("status",)
    search_fields = ("shop_name",)
    readonly_fields = ("status", "approved_at", "approved_by")
    inlines = [MembershipInline]
    actions = ["approve"]

    @admin.action(description="Approve the selected shops")
    def approve(self, request: HttpRequest, queryset: QuerySet[Merchant]) -> None:
        for merchant in queryset:
            try:
                merchant_approve(merchant=merchant, actor=request.user)  # type: ignore[arg-type]
            except DomainError as exc:
                self.message_user(request, f"{merchant}: {exc.message}", messages.ERROR)
        self.message_user(request, "Approved.")
