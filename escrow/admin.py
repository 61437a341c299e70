from django.contrib import admin

from escrow.models import Account, Entry, Hold, Posting
from kabao.admin_mixins import ReadOnlyAdminMixin


class ReadOnlyAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The ledger is written only by its services; the admin shows it."""


@admin.register(Account)
class AccountAdmin(ReadOnlyAdmin):
    list_display = ("code", "kind", "currency", "balance")
    list_filter = ("kind", "currency")
    search_fields = ("code",)


class EntryInline(admin.TabularInline):
    model = Entry
    extra = 0
    can_delete = False
    readonly_fields = ("account", "amount", "currency")


@admin.register(Posting)
class PostingAdmin(ReadOnlyAdmin):
    list_display = ("id", "kind", "reference", "created_at", "hash")
    search_fields = ("reference", "idempotency_key")
    inlines = [EntryInline]


@admin.register(Hold)
class HoldAdmin(ReadOnlyAdmin):
    list_display = ("reference", "amount", "currency", "status", "is_frozen", "release_at")
    list_filter = ("status", "is_frozen")
    search_fields = ("reference",)
