"""The disputes API (API.md, Disputes), plus offers and evidence downloads."""

from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import parsers, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import User
from disputes.files import attachment_response
from disputes.models import Dispute, DisputeReason, OfferKind, Resolution
from disputes.selectors import deadline_payload, dispute_visible_to, disputes_visible_to, queue_position
from disputes.services.attachments import SIGNATURES
from disputes.services.lifecycle import (
    dispute_escalate,
    dispute_open,
    dispute_post_message,
    dispute_resolve,
)
from disputes.services.remedies import dispute_answer_offer, dispute_offer
from disputes.services.transitions import next_deadline
from kabao.api_errors import error_responses
from kabao.api_fields import StrictCharField, StrictIntegerField, api_time
from marketplace.selectors import order_visible_to

PARSERS = [parsers.JSONParser, parsers.MultiPartParser, parsers.FormParser]


class DisputeOutput(serializers.Serializer):
    id = serializers.IntegerField()
    order = serializers.IntegerField(source="order_id")
    status = serializers.CharField()
    level = serializers.CharField()
    reason = serializers.CharField()
    is_after_sale = serializers.BooleanField()
    opened_at = serializers.DateTimeField()
    deadlines = serializers.SerializerMethodField()
    next_deadline = serializers.SerializerMethodField()
    queue_position = serializers.SerializerMethodField()
    resolution = serializers.SerializerMethodField()

    def get_deadlines(self, dispute: Dispute) -> dict:
        return {name: api_time(at) for name, at in deadline_payload(dispute).items()}

    def get_next_deadline(self, dispute: Dispute) -> dict | None:
        deadline = next_deadline(dispute)
        return {"name": deadline[0], "at": api_time(deadline[1])} if deadline else None

    def get_queue_position(self, dispute: Dispute) -> int | None:
        return queue_position(dispute)

    def get_resolution(self, dispute: Dispute) -> dict | None:
        if not dispute.resolution:
            return None
        return {
            "outcome": dispute.resolution,
            "refunded_amount": dispute.refunded_amount,
            "compensation_amount": dispute.compensation_amount,
            "note": dispute.decision_note,
            "resolved_at": api_time(dispute.resolved_at),
        }


class DisputeDetailOutput(DisputeOutput):
    messages = serializers.SerializerMethodField()
    timeline = serializers.SerializerMethodField()
    offers = serializers.SerializerMethodField()

    def _events(self, dispute: Dispute) -> list:
        return list(dispute.events.prefetch_related("attachments").all())

    def get_timeline(self, dispute: Dispute) -> list[dict]:
        return [
            {
                "at": api_time(event.at),
                "kind": event.kind,
                "role": event.role,
                "message": event.message,
                "amount": event.amount,
                "data": event.data,
                "attachments": [
                    {
                        "id": a.pk,
                        "name": a.name,
                        "content_type": a.content_type,
                        "size": a.size,
                        "sha256": a.sha256,
                    }
                    for a in event.attachments.all()
                ],
            }
            for event in self._events(dispute)
        ]

    def get_messages(self, dispute: Dispute) -> list[dict]:
        return [entry for entry in self.get_timeline(dispute) if entry["message"]]

    def get_offers(self, dispute: Dispute) -> list[dict]:
        return [
            {"id": offer.pk, "kind": offer.kind, "amount": offer.amount, "status": offer.status}
            for offer in dispute.offers.order_by("id")
        ]


def _detail(dispute: Dispute, status_code: int = status.HTTP_200_OK) -> Response:
    dispute.refresh_from_db()
    return Response(DisputeDetailOutput(dispute).data, status=status_code)


def _files(request: Request) -> list:
    return list(request.FILES.getlist("attachments")) if hasattr(request, "FILES") else []


class DisputeOpenApi(APIView):
    parser_classes = PARSERS

    class OpenInput(serializers.Serializer):
        reason = serializers.ChoiceField(choices=DisputeReason.values)
        message = StrictCharField(max_length=4000)

    @extend_schema(
        request=OpenInput,
        responses={201: DisputeDetailOutput, **error_responses(400, 401, 403, 404, 409, 415)},
    )
    def post(self, request: Request, order_id: int) -> Response:
        user: User = request.user  # type: ignore[assignment]
        order = order_visible_to(user, order_id)  # an unknown or another's order is 404, before the body
        data = self.OpenInput(data=request.data)
        data.is_valid(raise_exception=True)
        dispute = dispute_open(
            order_id=order.pk, buyer=user, attachments=_files(request), **data.validated_data
        )
        return _detail(dispute, status.HTTP_201_CREATED)


class DisputeListApi(APIView):
    @extend_schema(responses={200: DisputeOutput(many=True), **error_responses(401)})
    def get(self, request: Request) -> Response:
        disputes = disputes_visible_to(request.user).order_by("-opened_at")[:200]  # type: ignore[arg-type]
        return Response(DisputeOutput(disputes, many=True).data)


class DisputeDetailApi(APIView):
    @extend_schema(responses={200: DisputeDetailOutput, **error_responses(401, 404)})
    def get(self, request: Request, dispute_id: int) -> Response:
        return _detail(dispute_visible_to(request.user, dispute_id))  # type: ignore[arg-type]


class DisputeMessageApi(APIView):
    parser_classes = PARSERS

    class MessageInput(serializers.Serializer):
        message = StrictCharField(max_length=4000)

    @extend_schema(
        request=MessageInput,
        responses={201: DisputeDetailOutput, **error_responses(400, 401, 403, 404, 409, 415)},
    )
    def post(self, request: Request, dispute_id: int) -> Response:
        user: User = request.user  # type: ignore[assignment]
        dispute = dispute_visible_to(user, dispute_id)
        data = self.MessageInput(data=request.data)
        data.is_valid(raise_exception=True)
        dispute_post_message(
            dispute=dispute, actor=user, message=data.validated_data["message"], attachments=_files(request)
        )
        return _detail(dispute, status.HTTP_201_CREATED)


class DisputeEscalateApi(APIView):
    parser_classes = [parsers.JSONParser]

    class EscalateInput(serializers.Serializer):
        message = StrictCharField(max_length=4000, required=False, default="", allow_blank=True)

    @extend_schema(
        request=EscalateInput,
        responses={200: DisputeDetailOutput, **error_responses(400, 401, 403, 404, 409, 415)},
    )
    def post(self, request: Request, dispute_id: int) -> Response:
        user: User = request.user  # type: ignore[assignment]
        dispute = dispute_visible_to(user, dispute_id)
        data = self.EscalateInput(data=request.data)
        data.is_valid(raise_exception=True)
        return _detail(dispute_escalate(dispute=dispute, actor=user, message=data.validated_data["message"]))


class DisputeResolveApi(APIView):
    parser_classes = [parsers.JSONParser]

    class ResolveInput(serializers.Serializer):
        outcome = serializers.ChoiceField(
            choices=[Resolution.REFUND, Resolution.RELEASE, Resolution.PARTIAL_REFUND]
        )
        amount = StrictIntegerField(required=False, min_value=1, max_value=10**12)
        note = StrictCharField(max_length=4000, required=False, default="", allow_blank=True)

    @extend_schema(
        request=ResolveInput,
        responses={200: DisputeDetailOutput, **error_responses(400, 401, 403, 404, 409, 415)},
    )
    def post(self, request: Request, dispute_id: int) -> Response:
        user: User = request.user  # type: ignore[assignment]
        dispute = dispute_visible_to(user, dispute_id)
        data = self.ResolveInput(data=request.data)
        data.is_valid(raise_exception=True)
        return _detail(dispute_resolve(dispute=dispute, actor=user, **data.validated_data))


class DisputeOfferApi(APIView):
    parser_classes = [parsers.JSONParser]

    class OfferInput(serializers.Serializer):
        kind = serializers.ChoiceField(choices=OfferKind.values)
        amount = StrictIntegerField(required=False, min_value=1, max_value=10**12)
        message = StrictCharField(max_length=4000, required=False, default="", allow_blank=True)

    @extend_schema(
        request=OfferInput,
        responses={201: DisputeDetailOutput, **error_responses(400, 401, 403, 404, 409, 415)},
    )
    def post(self, request: Request, dispute_id: int) -> Response:
        user: User = request.user  # type: ignore[assignment]
        dispute = dispute_visible_to(user, dispute_id)
        data = self.OfferInput(data=request.data)
        data.is_valid(raise_exception=True)
        return _detail(
            dispute_offer(dispute=dispute, actor=user, **data.validated_data), status.HTTP_201_CREATED
        )


class DisputeOfferAnswerApi(APIView):
    accept = True

    @extend_schema(request=None, responses={200: DisputeDetailOutput, **error_responses(401, 403, 404, 409)})
    def post(self, request: Request, dispute_id: int) -> Response:
        user: User = request.user  # type: ignore[assignment]
        dispute = dispute_visible_to(user, dispute_id)
        return _detail(dispute_answer_offer(dispute=dispute, actor=user, accept=self.accept))


class DisputeAttachmentApi(APIView):
    @extend_schema(
        responses={
            # Served with the type its content was recognised as when it was uploaded.
            **{(200, content_type): OpenApiTypes.BINARY for content_type in [*SIGNATURES, "text/plain"]},
            **error_responses(401, 404),
        }
    )
    def get(self, request: Request, dispute_id: int, attachment_id: int) -> FileResponse:
        return attachment_response(dispute_visible_to(request.user, dispute_id), attachment_id)  # type: ignore[arg-type]
