"""Back-office tables. Orders and payments change only through services, so they are read-only here;
codes show only their masked form."""

from django.contrib import admin

from kabao.admin_mixins import ReadOnlyAdminMixin
from marketplace.models import (
    Chargeback,
    Code,
    Game,
    Order,
    OrderEvent,
    Payment,
    Product,
    WebhookEvent,
)


@admin.register(Game)
class GameAdmin(admin.ModelAdmin):
    list_display = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ("title", "merchant", "game", "price", "currency", "is_active")
    list_filter = ("is_active", "game")
    search_fields = ("title", "merchant__shop_name")
    readonly_fields = ("merchant", "price", "currency")


@admin.register(Code)
class CodeAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("masked", "product", "status", "order", "created_at", "sold_at")
    list_filter = ("status",)
    exclude = ("ciphertext", "fingerprint")


class OrderEventInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = OrderEvent
    extra = 0


@admin.register(Order)
class OrderAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("id", "buyer", "product", "quantity", "amount", "status", "created_at", "auto_confirm_at")
    list_filter = ("status",)
    search_fields = ("id", "buyer__email", "merchant__shop_name")
    inlines = [OrderEventInline]


@admin.register(Payment)
class PaymentAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("reference", "provider", "status", "amount", "currency", "refunded_amount", "captured_at")
    list_filter = ("provider", "status")
    search_fields = ("reference",)


@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("event_id", "provider", "event_type", "received_at", "processed_at")
    list_filter = ("provider", "event_type")


@admin.register(Chargeback)
class ChargebackAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("provider_dispute_id", "payment", "status", "amount", "currency", "reason", "opened_at")
    list_filter = ("status",)
    search_fields = ("provider_dispute_id", "payment__reference")
