"""The merchants API: applications, staff decisions, balance and payouts (see API.md)."""

from typing import cast

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_serializer, inline_serializer
from rest_framework import parsers, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import User
from kabao.api_errors import error_responses
from kabao.api_fields import StrictCharField, StrictIntegerField
from kabao.errors import DomainError, NotFound
from merchants.models import Merchant, MerchantStatus, Payout, PayoutStatus
from merchants.selectors import merchant_balance, merchant_deposit_status, merchant_of, payouts_of
from merchants.services import (
    merchant_apply,
    merchant_approve,
    merchant_reject,
    payout_approve,
    payout_mark_paid,
    payout_reject,
    payout_request,
)


def user_of(request: Request) -> User:
    """The signed-in caller (every view here requires authentication)."""
    return cast(User, request.user)


def merchant_required(user: User) -> Merchant:
    merchant = merchant_of(user)
    if merchant is None:
        raise DomainError("not_a_merchant", "This account does not belong to a shop.", status=403)
    return merchant


def staff_required(user: User, message: str) -> None:
    if not user.is_staff:
        raise DomainError("permission_denied", message, status=403)


def status_filter(request: Request, choices: list[str], default: str) -> str:
    """The `status` a staff list is filtered by; an unknown one is refused, not an empty list."""
    value = request.query_params.get("status", default)
    if value not in choices:
        raise DomainError("invalid", "Unknown status.", fields={"status": choices})
    return value


# --- applications ---------------------------------------------------------------------------


class MerchantOutput(serializers.Serializer):
    id = serializers.IntegerField()
    shop_name = serializers.CharField()
    status = serializers.CharField()


class MerchantDetailOutput(MerchantOutput):
    contact = serializers.CharField()
    sells = serializers.CharField()
    rejection_reason = serializers.CharField()
    created_at = serializers.DateTimeField()
    approved_at = serializers.DateTimeField(allow_null=True)


class MerchantApplyApi(APIView):
    parser_classes = [parsers.JSONParser]

    @extend_schema_serializer(component_name="MerchantApplyInput")
    class Input(serializers.Serializer):
        shop_name = StrictCharField(max_length=80)
        contact = StrictCharField(max_length=120, required=False, default="", allow_blank=True)
        sells = StrictCharField(max_length=1000, required=False, default="", allow_blank=True)

    @extend_schema(request=Input, responses={201: MerchantOutput, **error_responses(400, 401, 403, 409, 415)})
    def post(self, request: Request) -> Response:
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        merchant = merchant_apply(owner=user_of(request), **data.validated_data)
        return Response(MerchantOutput(merchant).data, status=status.HTTP_201_CREATED)


class MyShopApi(APIView):
    @extend_schema(responses={200: MerchantDetailOutput, **error_responses(401, 403)})
    def get(self, request: Request) -> Response:
        """The caller's shop: its application status and, once rejected, the reason."""
        return Response(MerchantDetailOutput(merchant_required(user_of(request))).data)


class StaffMerchantListApi(APIView):
    @extend_schema(
        parameters=[OpenApiParameter("status", str, enum=list(MerchantStatus.values))],
        responses={200: MerchantDetailOutput(many=True), **error_responses(400, 401, 403)},
    )
    def get(self, request: Request) -> Response:
        staff_required(user_of(request), "Only staff review merchants.")
        shops = Merchant.objects.filter(
            status=status_filter(request, list(MerchantStatus.values), MerchantStatus.PENDING)
        )
        return Response(MerchantDetailOutput(shops.order_by("created_at", "id")[:200], many=True).data)


def _merchant_for_staff(user: User, merchant_id: int, verb: str) -> Merchant:
    staff_required(user, f"Only staff {verb} merchants.")
    merchant = Merchant.objects.filter(pk=merchant_id).first()
    if merchant is None:
        raise NotFound("No such merchant.")
    return merchant


class MerchantApproveApi(APIView):
    @extend_schema(request=None, responses={200: MerchantOutput, **error_responses(401, 403, 404, 409)})
    def post(self, request: Request, merchant_id: int) -> Response:
        merchant = _merchant_for_staff(user_of(request), merchant_id, "approve")
        merchant = merchant_approve(merchant=merchant, actor=user_of(request))
        return Response(MerchantOutput(merchant).data)


class MerchantRejectApi(APIView):
    parser_classes = [parsers.JSONParser]

    @extend_schema_serializer(component_name="MerchantRejectInput")
    class Input(serializers.Serializer):
        reason = StrictCharField(max_length=500)

    @extend_schema(
        request=Input, responses={200: MerchantDetailOutput, **error_responses(400, 401, 403, 404, 409, 415)}
    )
    def post(self, request: Request, merchant_id: int) -> Response:
        merchant = _merchant_for_staff(user_of(request), merchant_id, "reject")
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        merchant = merchant_reject(
            merchant=merchant, actor=user_of(request), reason=data.validated_data["reason"]
        )
        return Response(MerchantDetailOutput(merchant).data)


# --- money ----------------------------------------------------------------------------------


class MerchantBalanceApi(APIView):
    @extend_schema(
        responses={
            200: inline_serializer(
                "Balance",
                {
                    "currency": serializers.CharField(),
                    "held": serializers.IntegerField(),
                    "available": serializers.IntegerField(),
                    "deposit": serializers.IntegerField(),
                    "deposit_required": serializers.IntegerField(),
                    "pending_payouts": serializers.IntegerField(),
                },
            ),
            **error_responses(401, 403),
        }
    )
    def get(self, request: Request) -> Response:
        merchant = merchant_required(user_of(request))
        balance = merchant_balance(merchant, settings.KABAO_CURRENCY)
        return Response(
            {
                "currency": balance.currency,
                "held": balance.held,
                "available": balance.available,
                "deposit": balance.deposit,
                "deposit_required": merchant_deposit_status(merchant).required,
                "pending_payouts": balance.pending_payouts,
            }
        )


class PayoutEventOutput(serializers.Serializer):
    at = serializers.DateTimeField()
    status = serializers.CharField(source="to_status")
    note = serializers.CharField()


class PayoutOutput(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()
    amount = serializers.IntegerField()
    currency = serializers.CharField()
    requested_at = serializers.DateTimeField()
    decided_at = serializers.DateTimeField(allow_null=True)
    paid_at = serializers.DateTimeField(allow_null=True)
    rejection_reason = serializers.CharField()
    external_reference = serializers.CharField()
    history = PayoutEventOutput(source="events.all", many=True)


class PayoutMerchantOutput(serializers.Serializer):
    id = serializers.IntegerField()
    shop_name = serializers.CharField()


class StaffPayoutOutput(PayoutOutput):
    merchant = PayoutMerchantOutput()


class PayoutListCreateApi(APIView):
    parser_classes = [parsers.JSONParser]

    @extend_schema_serializer(component_name="PayoutCreateInput")
    class Input(serializers.Serializer):
        amount = StrictIntegerField(min_value=1, max_value=10**12)

    @extend_schema(request=Input, responses={201: PayoutOutput, **error_responses(400, 401, 403, 409, 415)})
    def post(self, request: Request) -> Response:
        merchant = merchant_required(user_of(request))
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        payout = payout_request(
            merchant=merchant, actor=user_of(request), amount=data.validated_data["amount"]
        )
        return Response(PayoutOutput(payout).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={200: PayoutOutput(many=True), **error_responses(401, 403)})
    def get(self, request: Request) -> Response:
        merchant = merchant_required(user_of(request))
        return Response(PayoutOutput(payouts_of(merchant)[:200], many=True).data)


class PayoutDetailApi(APIView):
    @extend_schema(responses={200: PayoutOutput, **error_responses(401, 403, 404)})
    def get(self, request: Request, payout_id: int) -> Response:
        payout = payouts_of(merchant_required(user_of(request))).filter(pk=payout_id).first()
        if payout is None:
            raise NotFound("No such payout.")
        return Response(PayoutOutput(payout).data)


def _payout_for_staff(user: User, payout_id: int) -> Payout:
    staff_required(user, "Only staff decide payouts.")
    payout = Payout.objects.select_related("merchant").filter(pk=payout_id).first()
    if payout is None:
        raise NotFound("No such payout.")
    return payout


class StaffPayoutListApi(APIView):
    @extend_schema(
        parameters=[OpenApiParameter("status", str, enum=list(PayoutStatus.values))],
        responses={200: StaffPayoutOutput(many=True), **error_responses(400, 401, 403)},
    )
    def get(self, request: Request) -> Response:
        staff_required(user_of(request), "Only staff decide payouts.")
        payouts = (
            Payout.objects.filter(
                status=status_filter(request, list(PayoutStatus.values), PayoutStatus.REQUESTED)
            )
            .select_related("merchant")
            .prefetch_related("events")
            .order_by("requested_at", "id")
        )
        return Response(StaffPayoutOutput(payouts[:200], many=True).data)


class StaffPayoutApproveApi(APIView):
    @extend_schema(request=None, responses={200: StaffPayoutOutput, **error_responses(401, 403, 404, 409)})
    def post(self, request: Request, payout_id: int) -> Response:
        payout = _payout_for_staff(user_of(request), payout_id)
        payout = payout_approve(payout=payout, actor=user_of(request))
        return Response(StaffPayoutOutput(payout).data)


class StaffPayoutRejectApi(APIView):
    parser_classes = [parsers.JSONParser]

    @extend_schema_serializer(component_name="PayoutRejectInput")
    class Input(serializers.Serializer):
        reason = StrictCharField(max_length=500)

    @extend_schema(
        request=Input, responses={200: StaffPayoutOutput, **error_responses(400, 401, 403, 404, 409, 415)}
    )
    def post(self, request: Request, payout_id: int) -> Response:
        payout = _payout_for_staff(user_of(request), payout_id)
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        payout = payout_reject(payout=payout, actor=user_of(request), reason=data.validated_data["reason"])
        return Response(StaffPayoutOutput(payout).data)


class StaffPayoutPaidApi(APIView):
    parser_classes = [parsers.JSONParser]

    @extend_schema_serializer(component_name="PayoutPaidInput")
    class Input(serializers.Serializer):
        external_reference = StrictCharField(max_length=100, required=False, default="", allow_blank=True)

    @extend_schema(
        request=Input, responses={200: StaffPayoutOutput, **error_responses(400, 401, 403, 404, 409, 415)}
    )
    def post(self, request: Request, payout_id: int) -> Response:
        payout = _payout_for_staff(user_of(request), payout_id)
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        payout = payout_mark_paid(
            payout=payout,
            actor=user_of(request),
            external_reference=data.validated_data["external_reference"],
        )
        return Response(StaffPayoutOutput(payout).data)
