"""The shop's side of the catalogue API: products, code inventory and the security deposit."""

from collections.abc import Iterable, Iterator

from django.views.decorators.debug import sensitive_variables
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_serializer, inline_serializer
from rest_framework import parsers, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from kabao.api_errors import error_responses
from kabao.api_fields import StrictCharField, StrictIntegerField
from kabao.errors import DomainError, NotFound
from kabao.rate_limits import KabaoThrottle
from marketplace.api import ProductOutput
from marketplace.merchant_selectors import (
    deposit_payment_of,
    deposit_payments_of,
    merchant_product,
    merchant_products,
    product_codes,
)
from marketplace.models import CodeStatus, Game, Payment, Product
from marketplace.payments.simulated import pay_url
from marketplace.services.deposits import deposit_payment_start
from marketplace.services.inventory import codes_upload, codes_void
from marketplace.services.payments import payment_refresh
from marketplace.services.products import product_create, product_set_active, product_update
from marketplace.uploads import PlainTextLinesParser, StreamJSONParser, check_declared_size, file_lines
from merchants.api import merchant_required, user_of
from merchants.selectors import merchant_deposit_status


def _game(slug: str | None) -> Game | None:
    if not slug:
        return None
    game = Game.objects.filter(slug=slug).first()
    if game is None:
        raise DomainError("invalid", "Unknown game.", fields={"game": ["unknown"]})
    return game


# --- products -------------------------------------------------------------------------------


class MerchantProductOutput(ProductOutput):
    """What the shop sees of its product: the public fields, and its upload rules and counts."""

    code_pattern = serializers.CharField()
    auto_replace_invalid = serializers.BooleanField()
    is_active = serializers.BooleanField()
    codes = serializers.SerializerMethodField()

    def get_codes(self, product: Product) -> dict[str, int]:
        return {name: getattr(product, name, 0) for name in ("reserved", "sold", "void")}


MAX_ID = 2**63 - 1  # PostgreSQL's bigint: a larger id names nothing and would not fit a query


class MerchantProductListCreateApi(APIView):
    parser_classes = [parsers.JSONParser]

    @extend_schema_serializer(component_name="ProductCreateInput")
    class Input(serializers.Serializer):
        title = StrictCharField(max_length=120)
        price = StrictIntegerField(min_value=1, max_value=10**12)
        currency = serializers.RegexField(r"^[A-Z]{3}$", required=False)
        game = serializers.SlugField(required=False)
        face_value = StrictCharField(max_length=40, required=False, default="", allow_blank=True)
        region = StrictCharField(max_length=40, required=False, default="", allow_blank=True)
        description = StrictCharField(required=False, default="", allow_blank=True)
        code_pattern = StrictCharField(max_length=200, required=False, default="", allow_blank=True)
        auto_confirm_seconds = StrictIntegerField(required=False, allow_null=True, default=None)
        auto_replace_invalid = serializers.BooleanField(required=False, default=False)

    @extend_schema(
        request=Input, responses={201: MerchantProductOutput, **error_responses(400, 401, 403, 409, 415)}
    )
    def post(self, request: Request) -> Response:
        merchant = merchant_required(user_of(request))
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        game = _game(values.pop("game", None))
        product = product_create(merchant=merchant, game=game, **values)
        return Response(
            MerchantProductOutput(merchant_product(merchant, product.pk)).data, status=status.HTTP_201_CREATED
        )

    @extend_schema(responses={200: MerchantProductOutput(many=True), **error_responses(401, 403)})
    def get(self, request: Request) -> Response:
        merchant = merchant_required(user_of(request))
        return Response(MerchantProductOutput(merchant_products(merchant)[:500], many=True).data)


class MerchantProductDetailApi(APIView):
    parser_classes = [parsers.JSONParser]

    @extend_schema_serializer(component_name="ProductUpdateInput")
    class Input(serializers.Serializer):
        title = StrictCharField(max_length=120, required=False)
        price = StrictIntegerField(min_value=1, max_value=10**12, required=False)
        game = serializers.SlugField(required=False, allow_null=True)
        face_value = StrictCharField(max_length=40, required=False, allow_blank=True)
        region = StrictCharField(max_length=40, required=False, allow_blank=True)
        description = StrictCharField(required=False, allow_blank=True)
        code_pattern = StrictCharField(max_length=200, required=False, allow_blank=True)
        auto_confirm_seconds = StrictIntegerField(required=False, allow_null=True)
        auto_replace_invalid = serializers.BooleanField(required=False)
        is_active = serializers.BooleanField(required=False, help_text="false pauses the product")

    @extend_schema(responses={200: MerchantProductOutput, **error_responses(401, 403, 404)})
    def get(self, request: Request, product_id: int) -> Response:
        merchant = merchant_required(user_of(request))
        return Response(MerchantProductOutput(merchant_product(merchant, product_id)).data)

    @extend_schema(
        request=Input, responses={200: MerchantProductOutput, **error_responses(400, 401, 403, 404, 409, 415)}
    )
    def patch(self, request: Request, product_id: int) -> Response:
        """Edit any of the fields; `is_active: false` pauses the product, `true` lists it again."""
        merchant = merchant_required(user_of(request))
        product = merchant_product(merchant, product_id)
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        is_active = values.pop("is_active", None)
        if "game" in values:
            values["game"] = _game(values["game"])
        if values:
            product = product_update(product=product, **values)
        if is_active is not None:
            product_set_active(product=product, is_active=is_active)
        return Response(MerchantProductOutput(merchant_product(merchant, product_id)).data)


# --- codes ----------------------------------------------------------------------------------


class CodeOutput(serializers.Serializer):
    id = serializers.IntegerField()
    masked = serializers.CharField()
    status = serializers.CharField()
    order = serializers.IntegerField(source="order_id", allow_null=True)
    created_at = serializers.DateTimeField()
    sold_at = serializers.DateTimeField(allow_null=True)


class CodeUploadApi(APIView):
    throttle_classes = [KabaoThrottle]
    throttle_scope = "code_upload"
    throttle_methods = ("POST",)
    parser_classes = [StreamJSONParser, PlainTextLinesParser, parsers.MultiPartParser]

    @extend_schema(
        request={
            "application/json": inline_serializer(
                "CodeList", {"codes": serializers.ListField(child=serializers.CharField())}
            ),
            "text/plain": {"type": "string", "minLength": 1, "description": "one code a line"},
            "multipart/form-data": inline_serializer("CodeFile", {"file": serializers.FileField()}),
        },
        responses={
            201: inline_serializer(
                "UploadReport",
                {
                    "accepted": serializers.IntegerField(),
                    "duplicates": serializers.IntegerField(),
                    "invalid": serializers.ListField(child=serializers.DictField()),
                },
            ),
            **error_responses(400, 401, 403, 404, 409, 413, 415),
        },
    )
    def post(self, request: Request, product_id: int) -> Response:
        """Up to 100,000 codes, all stored or none; every refused line is named with its reason."""
        merchant = merchant_required(user_of(request))
        product = Product.objects.select_related("merchant").filter(pk=product_id, merchant=merchant).first()
        if product is None:
            raise NotFound("No such product in your shop.")
        check_declared_size(request.META)  # before request.data reads a byte of the body
        report = codes_upload(product=product, lines=_code_lines(request))
        return Response(
            {"accepted": report.accepted, "duplicates": report.duplicates, "invalid": report.invalid},
            status=status.HTTP_201_CREATED,
        )

    @extend_schema(
        parameters=[
            OpenApiParameter("status", str, enum=list(CodeStatus.values)),
            OpenApiParameter(
                "after",
                {"type": "integer", "minimum": 0, "maximum": MAX_ID},
                description="the last id of the previous page",
            ),
            OpenApiParameter(
                "limit", {"type": "integer", "minimum": 1, "maximum": 500}, description="default 100"
            ),
        ],
        responses={
            200: inline_serializer(
                "CodePage",
                {
                    "counts": serializers.DictField(child=serializers.IntegerField()),
                    "codes": CodeOutput(many=True),
                    "next_after": serializers.IntegerField(allow_null=True),
                },
            ),
            **error_responses(400, 401, 403, 404),
        },
    )
    def get(self, request: Request, product_id: int) -> Response:
        """The product's codes, masked, with their status; page on with `after`."""
        merchant = merchant_required(user_of(request))
        product = merchant_product(merchant, product_id)
        code_status = request.query_params.get("status", "")
        try:
            after = int(request.query_params.get("after", 0))
            limit = int(request.query_params.get("limit", 100))
        except ValueError as exc:
            raise DomainError("invalid", "after and limit are whole numbers.") from exc
        if not 0 <= after <= MAX_ID or not 1 <= limit <= 500:
            raise DomainError(
                "invalid",
                "after is from 0 and limit from 1 to 500.",
                fields={"after": [f"0 to {MAX_ID}"], "limit": ["1 to 500"]},
            )
        if code_status and code_status not in CodeStatus.values:
            raise DomainError("invalid", "Unknown code status.", fields={"status": list(CodeStatus.values)})
        codes = product_codes(product, status=code_status, after=after, limit=limit)
        counts = {"available": getattr(product, "stock", 0)}
        counts |= {name: getattr(product, name, 0) for name in ("reserved", "sold", "void")}
        return Response(
            {
                "counts": counts,
                "codes": CodeOutput(codes, many=True).data,
                "next_after": codes[-1].pk if len(codes) == max(1, min(limit, 500)) else None,
            }
        )


@sensitive_variables("data", "codes")
def _code_lines(request: Request) -> Iterable[str]:
    data = request.data
    if isinstance(data, Iterator):  # text/plain, read lazily from the stream
        return data
    upload = request.FILES.get("file") if hasattr(data, "getlist") else None
    if upload is not None:
        return file_lines(upload)
    codes = data.get("codes") if isinstance(data, dict) else None
    if not isinstance(codes, list) or not all(isinstance(code, str) for code in codes):
        raise DomainError(
            "invalid",
            'Send {"codes": ["..."]}, text/plain or a file.',
            fields={"codes": ["a list of strings"]},
        )
    return codes


class CodeVoidApi(APIView):
    parser_classes = [parsers.JSONParser]

    @extend_schema_serializer(component_name="CodeVoidInput")
    class Input(serializers.Serializer):
        codes = serializers.ListField(
            child=StrictIntegerField(min_value=1, max_value=MAX_ID), min_length=1, max_length=1000
        )

    @extend_schema(
        request=Input,
        responses={
            200: inline_serializer("Voided", {"voided": serializers.IntegerField()}),
            **error_responses(400, 401, 403, 404, 409, 415),
        },
    )
    def post(self, request: Request) -> Response:
        """Void codes still in stock (all or none); reserved and sold codes stay as they are."""
        merchant = merchant_required(user_of(request))
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        return Response({"voided": codes_void(merchant=merchant, code_ids=data.validated_data["codes"])})


# --- deposit --------------------------------------------------------------------------------


class DepositPaymentOutput(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()
    amount = serializers.IntegerField()
    currency = serializers.CharField()
    provider = serializers.CharField()
    reference = serializers.CharField()
    created_at = serializers.DateTimeField()
    captured_at = serializers.DateTimeField(allow_null=True)
    pay_url = serializers.SerializerMethodField()

    def get_pay_url(self, payment: Payment) -> str | None:
        is_open = payment.provider == "simulated" and payment.status == "created"
        return pay_url(payment.reference) if is_open else None


class DepositApi(APIView):
    parser_classes = [parsers.JSONParser]

    @extend_schema_serializer(component_name="DepositPaymentInput")
    class Input(serializers.Serializer):
        amount = StrictIntegerField(min_value=1, max_value=10**12, required=False)

    @extend_schema(
        responses={
            200: inline_serializer(
                "Deposit",
                {
                    "currency": serializers.CharField(),
                    "deposit": serializers.IntegerField(),
                    "required": serializers.IntegerField(),
                    "shortfall": serializers.IntegerField(),
                    "can_list": serializers.BooleanField(),
                    "payments": DepositPaymentOutput(many=True),
                },
            ),
            **error_responses(401, 403),
        }
    )
    def get(self, request: Request) -> Response:
        merchant = merchant_required(user_of(request))
        deposit = merchant_deposit_status(merchant)
        return Response(
            {
                "currency": deposit.currency,
                "deposit": deposit.deposit,
                "required": deposit.required,
                "shortfall": deposit.shortfall,
                "can_list": deposit.is_sufficient and merchant.is_active,
                "payments": DepositPaymentOutput(deposit_payments_of(merchant)[:50], many=True).data,
            }
        )

    @extend_schema(
        request=Input, responses={201: DepositPaymentOutput, **error_responses(400, 401, 403, 409, 415)}
    )
    def post(self, request: Request) -> Response:
        """Open a payment of the deposit (by default what is missing); pay it at `pay_url`."""
        merchant = merchant_required(user_of(request))
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        payment = deposit_payment_start(
            merchant=merchant,
            actor=user_of(request),
            amount=data.validated_data.get("amount"),
        )
        return Response(DepositPaymentOutput(payment).data, status=status.HTTP_201_CREATED)


class DepositPaymentRefreshApi(APIView):
    @extend_schema(request=None, responses={200: DepositPaymentOutput, **error_responses(401, 403, 404, 409)})
    def post(self, request: Request, payment_id: int) -> Response:
        """Ask the provider about a deposit payment whose confirmation has not arrived."""
        payment = deposit_payment_of(merchant_required(user_of(request)), payment_id)
        return Response(DepositPaymentOutput(payment_refresh(payment=payment)).data)
