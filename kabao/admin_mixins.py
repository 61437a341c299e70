from django.http import HttpRequest


class ReadOnlyAdminMixin:
    """For rows that only services write (ledger, orders, payments): the admin shows, never edits."""

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
