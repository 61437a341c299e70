from django.conf import settings
from drf_spectacular.utils import extend_schema, extend_schema_serializer, inline_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from kabao.errors import DomainError, NotFound
from merchants.models import Merchant
from merchants.selectors import merchant_balance, merchant_of
from merchants.services import merchant_apply, merchant_approve


class MerchantOutput(serializers.Serializer):
    id = serializers.IntegerField()
    shop_name = serializers.CharField()
    status = serializers.CharField()


class MerchantApplyApi(APIView):
    @extend_schema_serializer(component_name="MerchantApplyInput")
    class Input(serializers.Serializer):
        shop_name = serializers.CharField(max_length=80)

    @extend_schema(request=Input, responses={201: MerchantOutput})
    def post(self, request: Request) -> Response:
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        merchant = merchant_apply(owner=request.user, shop_name=data.validated_data["shop_name"])  # type: ignore[arg-type]
        return Response(MerchantOutput(merchant).data, status=status.HTTP_201_CREATED)


class MerchantApproveApi(APIView):
    @extend_schema(request=None, responses={200: MerchantOutput})
    def post(self, request: Request, merchant_id: int) -> Response:
        if not request.user.is_staff:
            raise DomainError("permission_denied", "Only staff approve merchants.", status=403)
        merchant = Merchant.objects.filter(pk=merchant_id).first()
        if merchant is None:
            raise NotFound("No such merchant.")
        merchant = merchant_approve(merchant=merchant, actor=request.user)
        return Response(MerchantOutput(merchant).data)


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
                },
            )
        }
    )
    def get(self, request: Request) -> Response:
        merchant = merchant_of(request.user)  # type: ignore[arg-type]
        if merchant is None:
            raise DomainError("not_a_merchant", "This account does not belong to a shop.", status=403)
        balance = merchant_balance(merchant, settings.KABAO_CURRENCY)
        return Response(
            {
                "currency": balance.currency,
                "held": balance.held,
                "available": balance.available,
                "deposit": balance.deposit,
            }
        )
