from django.contrib.auth import authenticate
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import parsers, serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.services import api_token_create, user_register
from kabao.api_errors import error_responses
from kabao.api_fields import StrictCharField
from kabao.errors import DomainError
from kabao.rate_limits import KabaoThrottle


class CredentialsSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    password = StrictCharField(max_length=128, trim_whitespace=False)


class RegisterApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []
    throttle_classes = [KabaoThrottle]
    throttle_scope = "signup"
    parser_classes = [parsers.JSONParser]

    @extend_schema(
        request=CredentialsSerializer,
        responses={
            201: inline_serializer(
                "Registered", {"user": serializers.DictField(), "token": serializers.CharField()}
            ),
            **error_responses(400, 409, 415),
        },
    )
    def post(self, request: Request) -> Response:
        data = CredentialsSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = user_register(email=data.validated_data["email"], password=data.validated_data["password"])
        _token, key = api_token_create(user=user, name="registration")
        return Response(
            {"user": {"id": user.pk, "email": user.email}, "token": key}, status=status.HTTP_201_CREATED
        )


class TokenApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []
    throttle_classes = [KabaoThrottle]
    throttle_scope = "login"
    parser_classes = [parsers.JSONParser]

    @extend_schema(
        request=CredentialsSerializer,
        responses={
            200: inline_serializer("Token", {"token": serializers.CharField()}),
            **error_responses(400, 401, 415),
        },
    )
    def post(self, request: Request) -> Response:
        data = CredentialsSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        # Django's own request: django-axes counts the failure against it and marks a lockout on it,
        # which its middleware then answers (accounts.security.lockout_response).
        user = authenticate(
            request._request,
            username=data.validated_data["email"].lower(),
            password=data.validated_data["password"],
        )
        if user is None:
            raise DomainError("invalid_credentials", "Email or password is wrong.", status=401)
        _token, key = api_token_create(user=user, name="api")
        return Response({"token": key})
