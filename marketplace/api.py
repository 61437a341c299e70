"""The catalogue, inventory, order and payment API (see API.md)."""

from django.conf import settings
from django.shortcuts import get_object_or_404
from django.utils.cache import add_never_cache_headers
from django.views.decorators.debug import sensitive_variables
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_serializer,
    inline_serializer,
)
from rest_framework import parsers, serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import User
from kabao.api_errors import error_responses
from kabao.api_fields import StrictIntegerField, api_time
from kabao.errors import DomainError, NotFound
from kabao.rate_limits import KabaoThrottle
from marketplace.hooks import order_dispute_summary
from marketplace.models import Order
from marketplace.selectors import (
    merchant_trust_figures,
    order_visible_to,
    orders_visible_to,
    product_on_sale,
    products_on_sale,
)
from marketplace.services.orders import order_codes, order_confirm, order_create
from marketplace.services.payments import webhook_receive
from merchants.models import Merchant, MerchantStatus
from merchants.selectors import merchant_balance

# --- catalogue ------------------------------------------------------------------------------


class MerchantRefOutput(serializers.Serializer):
    id = serializers.IntegerField()
    shop_name = serializers.CharField()


class ProductOutput(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()
    description = serializers.CharField()
    merchant = MerchantRefOutput()
    game = serializers.CharField(source="game.name", default=None, allow_null=True)
    price = serializers.IntegerField()
    currency = serializers.CharField()
    face_value = serializers.CharField()
    region = serializers.CharField()
    auto_confirm_seconds = serializers.IntegerField(allow_null=True)
    stock = serializers.IntegerField(default=0)


class ProductListApi(APIView):
    permission_classes = [AllowAny]

    class Query(serializers.Serializer):
        game = serializers.SlugField(required=False, allow_blank=True, help_text="game slug; empty: any")
        # A CharField refuses NUL, which PostgreSQL cannot compare (it was a 500).
        q = serializers.CharField(
            required=False, allow_blank=True, help_text="words in the title; the first 80 characters count"
        )

    @extend_schema(parameters=[Query], responses={200: ProductOutput(many=True), **error_responses(400, 401)})
    def get(self, request: Request) -> Response:
        query = self.Query(data=request.query_params)
        query.is_valid(raise_exception=True)
        products = products_on_sale()
        if game := query.validated_data.get("game"):
            products = products.filter(game__slug=game)
        if words := query.validated_data.get("q"):
            products = products.filter(title__icontains=words[:80])
        return Response(ProductOutput(products[:200], many=True).data)


class ProductDetailApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(responses={200: ProductOutput, **error_responses(401, 404)})
    def get(self, request: Request, product_id: int) -> Response:
        return Response(ProductOutput(product_on_sale(product_id)).data)


class MerchantPublicApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(
        responses={
            200: inline_serializer(
                "MerchantPublic",
                {
                    "id": serializers.IntegerField(),
                    "shop_name": serializers.CharField(),
                    "member_since": serializers.DateTimeField(),
                    "deposit": serializers.IntegerField(),
                    "currency": serializers.CharField(),
                    "completed_orders": serializers.IntegerField(),
                    "disputes_lost": serializers.IntegerField(),
                    "dispute_rate": serializers.FloatField(),
                    "median_first_response_seconds": serializers.IntegerField(allow_null=True),
                },
            ),
            **error_responses(401, 404),
        }
    )
    def get(self, request: Request, merchant_id: int) -> Response:
        merchant = get_object_or_404(Merchant, pk=merchant_id, status=MerchantStatus.ACTIVE)
        figures = merchant_trust_figures(merchant)
        return Response(
            {
                "id": merchant.pk,
                "shop_name": merchant.shop_name,
                "member_since": merchant.created_at,
                "currency": settings.KABAO_CURRENCY,
                "deposit": merchant_balance(merchant, settings.KABAO_CURRENCY).deposit,
                "completed_orders": figures["completed"],
                "disputes_lost": figures["disputes_lost"],
                # A ratio for display, not money: the one place a float is honest.
                "dispute_rate": figures["dispute_rate"],
                "median_first_response_seconds": figures["median_first_response_seconds"],
            }
        )


# --- orders ---------------------------------------------------------------------------------


class OrderOutput(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()
    amount = serializers.IntegerField()
    currency = serializers.CharField()
    product = serializers.IntegerField(source="product_id")
    quantity = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()
    paid_at = serializers.DateTimeField(allow_null=True)
    delivered_at = serializers.DateTimeField(allow_null=True)
    auto_confirm_at = serializers.DateTimeField(allow_null=True)
    payment = serializers.SerializerMethodField()

    def get_payment(self, order: Order) -> dict:
        from marketplace.payments import pay_url

        payment = order.payment
        url = pay_url(payment.reference) if payment.provider in ("simulated", "stripe") else None
        return {"provider": payment.provider, "status": payment.status, "pay_url": url}


class OrderDetailOutput(OrderOutput):
    codes = serializers.SerializerMethodField()
    timeline = serializers.SerializerMethodField()
    dispute = serializers.SerializerMethodField()

    def get_codes(self, order: Order) -> list[str]:
        return list(self.context["codes"])

    def get_timeline(self, order: Order) -> list[dict]:
        return [
            # Rendered as every other time in the API ("…Z"), not with isoformat's "+00:00".
            {
                "at": api_time(event.at),
                "event": event.event,
                "note": event.note,
            }
            for event in order.events.all()
        ]

    def get_dispute(self, order: Order) -> dict | None:
        return order_dispute_summary(order)


class OrderListCreateApi(APIView):
    parser_classes = [parsers.JSONParser]

    @extend_schema_serializer(component_name="OrderCreateInput")
    class Input(serializers.Serializer):
        product = StrictIntegerField(min_value=1, max_value=2**62)
        quantity = StrictIntegerField(min_value=1, max_value=1000)

    @extend_schema(
        request=Input,
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                {"type": "string", "minLength": 1, "maxLength": 100},
                OpenApiParameter.HEADER,
                description="The same key again returns the same order.",
            )
        ],
        responses={201: OrderOutput, **error_responses(400, 401, 403, 409, 415)},
    )
    def post(self, request: Request) -> Response:
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            order = order_create(
                buyer=request.user,  # type: ignore[arg-type]
                product_id=data.validated_data["product"],
                quantity=data.validated_data["quantity"],
                idempotency_key=request.headers.get("Idempotency-Key"),
            )
        except NotFound as exc:  # an unknown id in the body is invalid input, as for `game`
            raise DomainError("invalid", exc.message, fields={"product": ["unknown"]}) from exc
        return Response(OrderOutput(order).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={200: OrderOutput(many=True), **error_responses(401)})
    def get(self, request: Request) -> Response:
        orders = orders_visible_to(request.user)[:200]  # type: ignore[arg-type]
        return Response(OrderOutput(orders, many=True).data)


class OrderDetailApi(APIView):
    throttle_classes = [KabaoThrottle]
    throttle_scope = "order_read"

    @extend_schema(responses={200: OrderDetailOutput, **error_responses(401, 404, 409)})
    @sensitive_variables()  # every frame below: the serializer's context holds the codes in clear
    def get(self, request: Request, order_id: int) -> Response:
        """A code that fails its integrity check refuses the read: 409 `code_unreadable`."""
        user: User = request.user  # type: ignore[assignment]
        order = order_visible_to(user, order_id)
        if order.buyer_id == user.pk:
            codes = order_codes(order=order, actor=user)
        else:  # merchant staff see masked codes only
            codes = list(order.codes.order_by("id").values_list("masked", flat=True))
        response = Response(OrderDetailOutput(order, context={"codes": codes}).data)
        add_never_cache_headers(response)  # it may hold the codes in clear
        return response


class OrderConfirmApi(APIView):
    @extend_schema(
        request=None,
        responses={
            200: inline_serializer(
                "Confirmed", {"id": serializers.IntegerField(), "status": serializers.CharField()}
            ),
            **error_responses(401, 403, 404, 409),
        },
    )
    def post(self, request: Request, order_id: int) -> Response:
        order = order_visible_to(request.user, order_id)  # type: ignore[arg-type]
        if order.buyer_id != request.user.pk:  # the shop sees its sale but may not confirm it
            raise DomainError("permission_denied", "Only the buyer confirms an order.", status=403)
        order = order_confirm(order=order, actor=request.user)
        return Response({"id": order.pk, "status": order.status})


# --- payments -------------------------------------------------------------------------------


def _webhook_schema(signature_header: str):
    return extend_schema(
        request=OpenApiTypes.OBJECT,
        parameters=[OpenApiParameter(signature_header, str, OpenApiParameter.HEADER, required=True)],
        responses={200: OpenApiTypes.OBJECT, **error_responses(400)},
    )


class SimulatedWebhookApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []
    parser_classes = [parsers.JSONParser]  # the body is read raw and verified; JSON is what is sent

    @_webhook_schema("Kabao-Signature")
    def post(self, request: Request) -> Response:
        _event, is_new = webhook_receive(
            provider_name="simulated", body=request.body, headers=request.headers
        )
        return Response({"received": True, "duplicate": not is_new})


class StripeWebhookApi(APIView):
    """Stripe's events: verified with the library's own check, stored once, acted on by a task."""

    permission_classes = [AllowAny]
    authentication_classes: list = []
    parser_classes = [parsers.JSONParser]

    @_webhook_schema("Stripe-Signature")
    def post(self, request: Request) -> Response:
        _event, is_new = webhook_receive(provider_name="stripe", body=request.body, headers=request.headers)
        return Response({"received": True, "duplicate": not is_new})
