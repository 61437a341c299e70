"""The shop's product and inventory pages: create, edit, pause, upload codes, see and void them."""

from collections import defaultdict
from collections.abc import Iterable

from django.contrib import messages
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_http_methods, require_POST

from kabao.errors import DomainError
from kabao.rate_limits import rate_limit
from marketplace.merchant_forms import ProductForm, UploadForm
from marketplace.merchant_messages import refusal_reason, shop_message
from marketplace.merchant_selectors import CODES_PAGE, merchant_product, merchant_products, product_codes
from marketplace.merchant_views import active_shop_page, refused
from marketplace.models import CodeStatus, Product
from marketplace.services.inventory import UploadReport, codes_upload, codes_void
from marketplace.services.products import product_create, product_set_active, product_update
from marketplace.uploads import check_declared_size, file_lines
from merchants.models import Merchant
from merchants.selectors import merchant_deposit_status

# Service field names and the form fields that show their errors.
FORM_FIELDS = {"auto_confirm_seconds": "protection_hours"}


@active_shop_page
def products(request: HttpRequest, merchant: Merchant) -> HttpResponse:
    return render(
        request,
        "merchants/products.html",
        {"products": merchant_products(merchant), "deposit": merchant_deposit_status(merchant)},
    )


def _product_form_page(request: HttpRequest, merchant: Merchant, product: Product | None) -> HttpResponse:
    initial = {}
    if product is not None:
        seconds = product.auto_confirm_seconds
        initial = {
            "title": product.title,
            "price": product.price,
            "game": product.game,
            "face_value": product.face_value,
            "region": product.region,
            "description": product.description,
            "code_pattern": product.code_pattern,
            "protection_hours": None if seconds is None else seconds // 3600,
            "auto_replace_invalid": product.auto_replace_invalid,
        }
    form = ProductForm(request.POST or None, initial=initial)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                if product is None:
                    product = product_create(merchant=merchant, **form.service_values())
                    messages.success(request, _("Product created. Now upload its codes."))
                    return redirect("merchant:inventory", product_id=product.pk)
                product_update(product=product, **form.service_values())
            except DomainError as exc:
                status = exc.status
                if exc.fields:
                    for name in exc.fields:
                        field = FORM_FIELDS.get(name, name)
                        form.add_error(field if field in form.fields else None, _("Please check this field."))
                else:
                    refused(request, exc)
            else:
                messages.success(request, _("Product saved."))
                return redirect("merchant:products")
    return render(request, "merchants/product_form.html", {"form": form, "product": product}, status=status)


@active_shop_page
@require_http_methods(["GET", "POST"])
def product_new(request: HttpRequest, merchant: Merchant) -> HttpResponse:
    return _product_form_page(request, merchant, None)


@active_shop_page
@require_http_methods(["GET", "POST"])
def product_edit(request: HttpRequest, merchant: Merchant, product_id: int) -> HttpResponse:
    return _product_form_page(request, merchant, merchant_product(merchant, product_id))


@active_shop_page
@require_POST
def product_active(request: HttpRequest, merchant: Merchant, product_id: int) -> HttpResponse:
    """Pause or unpause (`is_active` = "1" or "0")."""
    product = merchant_product(merchant, product_id)
    is_active = request.POST.get("is_active") == "1"
    try:
        product_set_active(product=product, is_active=is_active)
    except DomainError as exc:
        refused(request, exc)
    else:
        messages.success(request, _("Product listed again.") if is_active else _("Product paused."))
    return redirect("merchant:products")


# --- inventory ------------------------------------------------------------------------------


def _report_groups(report: UploadReport) -> list[dict]:
    """The refused lines grouped by reason: every line named, compact on the page."""
    lines: dict[str, list[int]] = defaultdict(list)
    for item in report.invalid:
        lines[item["reason"]].append(item["line"])
    return [{"reason": refusal_reason(reason), "lines": numbers} for reason, numbers in lines.items()]


@sensitive_variables("text")
def _upload_lines(form: UploadForm) -> Iterable[str] | None:
    """The uploaded file read line by line, or the pasted text; None when both are empty."""
    upload = form.cleaned_data.get("file")
    if upload is not None:
        return file_lines(upload)
    text = form.cleaned_data.get("codes") or ""
    return text.splitlines() if text.strip() else None


@active_shop_page
@require_http_methods(["GET", "POST"])
@sensitive_variables("lines")
def _inventory(request: HttpRequest, merchant: Merchant, product_id: int) -> HttpResponse:
    product = merchant_product(merchant, product_id)
    form = UploadForm(request.POST or None, request.FILES or None)
    report = None
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                lines = _upload_lines(form)
                if lines is None:
                    form.add_error(None, _("Paste codes or choose a file."))
                else:
                    report = codes_upload(product=product, lines=lines)
                    status = 201
                    product = merchant_product(merchant, product_id)  # the new stock
                    form = UploadForm()
            except DomainError as exc:
                status = refused(request, exc)
                form = UploadForm()  # nothing was stored; the page does not carry the codes back
    code_status = request.GET.get("status", "")
    if code_status not in CodeStatus.values:
        code_status = ""
    try:
        after = max(int(request.GET.get("after", 0)), 0)
    except ValueError:
        after = 0
    codes = product_codes(product, status=code_status, after=after)
    next_after = codes[-1].pk if len(codes) == CODES_PAGE else None
    return render(
        request,
        "merchants/inventory.html",
        {
            "product": product,
            "form": form,
            "report": report,
            "report_groups": _report_groups(report) if report else [],
            "codes": codes,
            "code_status": code_status,
            "statuses": CodeStatus.choices,
            "next_after": next_after,
        },
        status=status,
    )


_inventory_protected = csrf_protect(_inventory)


def _too_large(request: HttpRequest, message: str) -> HttpResponse:
    return render(request, "error.html", {"status": 413, "message": message}, status=413)


@csrf_exempt  # the size is checked before Django reads the body; csrf_protect then runs as usual
@sensitive_post_parameters("codes")  # pasted codes never reach a crash report
@rate_limit("code_upload", per="user", methods=("POST",))
def inventory(request: HttpRequest, product_id: int) -> HttpResponse:
    """Codes of one product and the upload form. An upload over the size limit is refused from its
    Content-Length before the body is read (413, nothing stored)."""
    if request.method == "POST":
        try:
            check_declared_size(request.META)
        except DomainError as exc:
            return _too_large(request, shop_message(exc))
    try:
        return _inventory_protected(request, product_id=product_id)
    except RequestDataTooBig:  # Django's own cap on form fields, met by a very long paste
        return _too_large(
            request,
            _("Pasted text is limited in size: upload the codes as a file instead. Nothing was stored."),
        )


@active_shop_page
@require_POST
def codes_void_view(request: HttpRequest, merchant: Merchant, product_id: int) -> HttpResponse:
    product = merchant_product(merchant, product_id)
    try:
        code_ids = [int(value) for value in request.POST.getlist("codes")]
        voided = codes_void(merchant=merchant, code_ids=code_ids)
    except ValueError:
        messages.error(request, _("Choose the codes to void."))
    except DomainError as exc:
        if exc.status == 404:
            raise  # another shop's code: the same 404 page as a missing one
        messages.error(
            request, _("Choose the codes to void.") if exc.code == "invalid" else shop_message(exc)
        )
    else:
        messages.success(request, _("%(count)d codes voided.") % {"count": voided})
    return redirect("merchant:inventory", product_id=product.pk)
