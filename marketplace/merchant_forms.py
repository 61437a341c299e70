"""Forms of the shop's and staff's pages. They only parse input; the services decide."""

from decimal import Decimal, InvalidOperation
from typing import Any

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from marketplace.models import Game


class MoneyField(forms.Field):
    """An amount typed in major units ("48", "48.5", "48.00") cleaned to integer minor units (4800).

    Parsed with Decimal from the text, so no float ever touches the amount; more than two decimals,
    zero and negative amounts are refused.
    """

    widget = forms.TextInput
    default_error_messages = {
        "invalid": _("Enter an amount such as 48 or 48.50."),
        "not_positive": _("The amount must be more than zero."),
        "too_large": _("The amount is too large."),
    }

    def widget_attrs(self, widget: forms.Widget) -> dict[str, Any]:
        return {
            **super().widget_attrs(widget),
            "inputmode": "decimal",
            "autocomplete": "off",
            "maxlength": "16",
        }

    def to_python(self, value: Any) -> int | None:
        text = str(value or "").strip().replace(",", "")
        if not text:
            return None
        if len(text) > 16:
            raise forms.ValidationError(self.error_messages["too_large"], code="too_large")
        try:
            amount = Decimal(text)
        except InvalidOperation as exc:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid") from exc
        exponent = amount.as_tuple().exponent
        if not amount.is_finite() or not isinstance(exponent, int) or exponent < -2:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        if amount <= 0:
            raise forms.ValidationError(self.error_messages["not_positive"], code="not_positive")
        minor = int(amount * 100)
        if minor > 10**12:
            raise forms.ValidationError(self.error_messages["too_large"], code="too_large")
        return minor

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            major, minor = divmod(value, 100)
            return f"{major}.{minor:02d}"
        return value


class ApplyForm(forms.Form):
    shop_name = forms.CharField(label=_("Shop name"), max_length=80)
    contact = forms.CharField(
        label=_("Contact"),
        max_length=120,
        help_text=_("A phone number, WeChat, QQ or email where our staff can reach you."),
    )
    sells = forms.CharField(
        label=_("What you sell"),
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Games, card types and where your codes come from."),
    )


class ReasonForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=500, widget=forms.Textarea(attrs={"rows": 2}))


class ProductForm(forms.Form):
    title = forms.CharField(label=_("Title"), max_length=120)
    price = MoneyField(label=_("Price"), help_text=_("For example 48.00 (two decimals at most)."))
    game = forms.ModelChoiceField(label=_("Game"), queryset=Game.objects.order_by("name"), required=False)
    face_value = forms.CharField(label=_("Face value"), max_length=40, required=False)
    region = forms.CharField(label=_("Region"), max_length=40, required=False)
    description = forms.CharField(
        label=_("Description"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    code_pattern = forms.CharField(
        label=_("Code pattern (regular expression)"),
        max_length=200,
        required=False,
        help_text=_("Every uploaded code must match it in full, e.g. [A-Z0-9]{4}(-[A-Z0-9]{4}){3}."),
    )
    protection_hours = forms.IntegerField(
        label=_("Buyer-protection window (hours)"),
        required=False,
        min_value=1,
        help_text=_("Leave empty for the platform's default."),
    )
    auto_replace_invalid = forms.BooleanField(
        label=_("Replace a code reported invalid automatically from stock"), required=False
    )

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        low = settings.KABAO_AUTO_CONFIRM_MIN_SECONDS // 3600
        high = settings.KABAO_AUTO_CONFIRM_MAX_SECONDS // 3600
        field = self.fields["protection_hours"]
        field.help_text = _("From %(low)d to %(high)d hours; leave empty for the platform's default.") % {
            "low": low,
            "high": high,
        }
        field.widget.attrs.update({"min": low, "max": high})

    def service_values(self) -> dict[str, Any]:
        """The cleaned form as the product services' keyword arguments."""
        data = dict(self.cleaned_data)
        hours = data.pop("protection_hours")
        data["auto_confirm_seconds"] = None if hours is None else hours * 3600
        return data


class UploadForm(forms.Form):
    codes = forms.CharField(
        label=_("Paste codes, one a line"), required=False, widget=forms.Textarea(attrs={"rows": 8})
    )
    file = forms.FileField(
        label=_("or upload a .txt or .csv file"),
        required=False,
        widget=forms.ClearableFileInput(attrs={"accept": ".txt,.csv,text/plain,text/csv"}),
    )


class AmountForm(forms.Form):
    amount = MoneyField(label=_("Amount"))


class TokenForm(forms.Form):
    name = forms.CharField(
        label=_("Name"), max_length=80, help_text=_("What the token is for, e.g. stock sync.")
    )


class PaidForm(forms.Form):
    external_reference = forms.CharField(label=_("Transfer reference"), max_length=100, required=False)
