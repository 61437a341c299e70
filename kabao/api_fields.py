"""Serializer fields shared by the apps' APIs."""

from datetime import datetime

from rest_framework import serializers


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer only: DRF's IntegerField also takes "12", 12.0 and "12.0" as 12, which for
    money in minor units and for quantities hides a client bug instead of refusing it."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


def api_time(moment: datetime | None) -> str | None:
    """A time as every API field writes it (ISO 8601, UTC, "Z"), for values built by hand."""
    return None if moment is None else serializers.DateTimeField().to_representation(moment)


class StrictCharField(serializers.CharField):
    """A JSON string only: DRF's CharField also takes 12 and 1.5 as "12" and "1.5", which accepts a
    body the schema refuses and hides a client bug. Unless blank is allowed, the schema says
    `minLength: 1`, as the field checks. `max_length` counts the string as sent, as the schema
    does; DRF counts it after trimming, so 500 characters and a leading control character such as
    U+001E (which strip() removes) passed a limit of 500."""

    def __init__(self, **kwargs):
        if not kwargs.get("allow_blank", False):
            kwargs.setdefault("min_length", 1)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        if self.max_length is not None and len(data) > self.max_length:
            self.fail("max_length", max_length=self.max_length)
        return super().to_internal_value(data)
