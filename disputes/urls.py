from django.urls import path

from disputes import views

app_name = "disputes"
urlpatterns = [
    path("orders/<int:order_id>/dispute/", views.dispute_open_view, name="open"),
    path("disputes/", views.dispute_inbox, name="inbox"),
    path("disputes/<int:dispute_id>/", views.dispute_detail, name="detail"),
    path("disputes/<int:dispute_id>/act/", views.dispute_act, name="act"),
    path(
        "disputes/<int:dispute_id>/files/<int:attachment_id>/", views.attachment_download, name="attachment"
    ),
    path("orders/<int:order_id>/evidence.json", views.order_evidence_download, name="evidence-json"),
    path("orders/<int:order_id>/evidence/", views.order_evidence_page, name="evidence"),
    path("staff/disputes/", views.arbitration_queue, name="queue"),
]
