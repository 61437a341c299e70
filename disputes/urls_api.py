from django.urls import path

from disputes import api

urlpatterns = [
    path("orders/<int:order_id>/disputes/", api.DisputeOpenApi.as_view(), name="dispute-open"),
    path("disputes/", api.DisputeListApi.as_view(), name="disputes"),
    path("disputes/<int:dispute_id>/", api.DisputeDetailApi.as_view(), name="dispute"),
    path("disputes/<int:dispute_id>/messages/", api.DisputeMessageApi.as_view(), name="dispute-messages"),
    path("disputes/<int:dispute_id>/escalate/", api.DisputeEscalateApi.as_view(), name="dispute-escalate"),
    path("disputes/<int:dispute_id>/resolve/", api.DisputeResolveApi.as_view(), name="dispute-resolve"),
    path("disputes/<int:dispute_id>/offers/", api.DisputeOfferApi.as_view(), name="dispute-offers"),
    path(
        "disputes/<int:dispute_id>/offers/accept/",
        api.DisputeOfferAnswerApi.as_view(accept=True),
        name="dispute-accept",
    ),
    path(
        "disputes/<int:dispute_id>/offers/reject/",
        api.DisputeOfferAnswerApi.as_view(accept=False),
        name="dispute-reject",
    ),
    path(
        "disputes/<int:dispute_id>/attachments/<int:attachment_id>/",
        api.DisputeAttachmentApi.as_view(),
        name="dispute-attachment",
    ),
]
