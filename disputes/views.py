"""Browser pages for disputes: the buyer's complaint, the shop's inbox and the arbitration console."""

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from accounts.models import User
from disputes.evidence import order_evidence_file
from disputes.files import attachment_response
from disputes.models import ActorRole, DisputeLevel, DisputeReason, DisputeStatus, OfferKind
from disputes.selectors import (
    deadline_payload,
    dispute_visible_to,
    disputes_visible_to,
    order_evidence,
    platform_queue,
    queue_position,
)
from disputes.services.lifecycle import (
    dispute_escalate,
    dispute_open,
    dispute_post_message,
    dispute_resolve,
    role_of,
)
from disputes.services.remedies import dispute_answer_offer, dispute_offer
from disputes.services.transitions import next_deadline
from kabao.errors import DomainError, NotFound, user_message
from marketplace.merchant_forms import MoneyField
from marketplace.selectors import order_visible_to
from marketplace.views import EVENT_LABELS, EVENT_NOTES


def _user(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


@login_required
@require_http_methods(["GET", "POST"])
def dispute_open_view(request: HttpRequest, order_id: int) -> HttpResponse:
    order = order_visible_to(_user(request), order_id)
    if order.buyer_id != request.user.pk:
        raise NotFound("No such order.")
    if request.method == "POST":
        try:
            dispute = dispute_open(
                order_id=order.pk,
                buyer=_user(request),
                reason=request.POST.get("reason", ""),
                message=request.POST.get("message", ""),
                attachments=request.FILES.getlist("attachments"),
            )
        except DomainError as exc:
            messages.error(request, user_message(exc))
        else:
            messages.success(
                request, _("Your dispute is open. The shop must answer before the deadline shown.")
            )
            return redirect("disputes:detail", dispute_id=dispute.pk)
    return render(request, "disputes/open.html", {"order": order, "reasons": DisputeReason.choices})


@login_required
def dispute_inbox(request: HttpRequest) -> HttpResponse:
    """The shop's disputes (merchant staff) above the user's own complaints. Staff use the queue."""
    user = _user(request)
    visible = disputes_visible_to(user).order_by("-opened_at")
    disputes = [] if user.is_staff else list(visible.exclude(buyer=user)[:200])
    own = list(visible.filter(buyer=user)[:200])
    for dispute in [*disputes, *own]:
        dispute.next = next_deadline(dispute)  # type: ignore[attr-defined]
    return render(request, "disputes/inbox.html", {"shop_disputes": disputes, "own_disputes": own})


@login_required
def dispute_detail(request: HttpRequest, dispute_id: int) -> HttpResponse:
    user = _user(request)
    dispute = dispute_visible_to(user, dispute_id)
    role = role_of(dispute, user)
    context = {
        "dispute": dispute,
        "role": role,
        "events": dispute.events.select_related("actor").prefetch_related("attachments"),
        "pending_offer": dispute.offers.filter(status="pending").order_by("-id").first(),
        "next": next_deadline(dispute),
        "deadlines": deadline_payload(dispute),
        "queue_position": queue_position(dispute),
        "offer_kinds": OfferKind.choices,
        "is_open": dispute.status != DisputeStatus.RESOLVED,
        "can_escalate": role == ActorRole.BUYER
        and dispute.level == DisputeLevel.MERCHANT
        and dispute.merchant_first_response_at is not None
        and dispute.status != DisputeStatus.RESOLVED,
        "can_answer_remedy": role == ActorRole.BUYER and dispute.status == DisputeStatus.AWAITING_BUYER,
        "evidence": order_evidence(dispute) if role == ActorRole.STAFF else None,
    }
    return render(request, "disputes/detail.html", context)


# What the page says after each action: the next step, not just "done".
ACT_MESSAGES = {
    "message": gettext_lazy("Your message was sent."),
    "escalate": gettext_lazy("The platform will decide; you can follow it here."),
    "accept": gettext_lazy("Thank you: your answer was recorded."),
    "reject": gettext_lazy("Your answer was recorded: the shop must propose something else."),
    "offer": gettext_lazy("Your offer was sent to the buyer."),
    "resolve": gettext_lazy("Decision recorded; both sides were told."),
}


def _amount_or_none(value: str | None) -> int | None:
    """An amount typed in yuan on the page ("12.34") as fen; empty is None."""
    try:
        return MoneyField(required=False).clean(value)
    except ValidationError as exc:
        raise DomainError("invalid_amount", " ".join(exc.messages)) from exc


@login_required
@require_POST
def dispute_act(request: HttpRequest, dispute_id: int) -> HttpResponse:
    """One form target for every action on the dispute page; each calls its service."""
    user = _user(request)
    dispute = dispute_visible_to(user, dispute_id)
    action = request.POST.get("action", "")
    text = request.POST.get("message", "")
    try:
        if action == "message":
            dispute_post_message(
                dispute=dispute, actor=user, message=text, attachments=request.FILES.getlist("attachments")
            )
        elif action == "escalate":
            dispute_escalate(dispute=dispute, actor=user, message=text)
        elif action in ("accept", "reject"):
            dispute_answer_offer(dispute=dispute, actor=user, accept=action == "accept")
        elif action == "offer":
            dispute_offer(
                dispute=dispute,
                actor=user,
                kind=request.POST.get("kind", ""),
                amount=_amount_or_none(request.POST.get("amount")),
                message=text,
            )
        elif action == "resolve":
            dispute_resolve(
                dispute=dispute,
                actor=user,
                outcome=request.POST.get("outcome", ""),
                amount=_amount_or_none(request.POST.get("amount")),
                note=request.POST.get("note", ""),
            )
        else:
            raise DomainError("invalid", "Unknown action.")
    except DomainError as exc:
        messages.error(request, user_message(exc))
    else:
        messages.success(request, ACT_MESSAGES.get(action, _("Done.")))
    return redirect("disputes:detail", dispute_id=dispute.pk)


@login_required
def attachment_download(request: HttpRequest, dispute_id: int, attachment_id: int) -> FileResponse:
    return attachment_response(dispute_visible_to(_user(request), dispute_id), attachment_id)


@login_required
def arbitration_queue(request: HttpRequest) -> HttpResponse:
    if not request.user.is_staff:
        raise NotFound("Not found.")
    level = request.GET.get("level", "")
    reason = request.GET.get("reason", "")
    flagged = request.GET.get("flagged") == "1"
    queue = platform_queue(level=level, reason=reason, flagged_only=flagged)
    return render(
        request,
        "disputes/queue.html",
        {
            "queue": queue,
            "level": level,
            "reason": reason,
            "flagged": flagged,
            "levels": [
                (DisputeLevel.PLATFORM, DisputeLevel.PLATFORM.label),
                (DisputeLevel.SENIOR, DisputeLevel.SENIOR.label),
            ],
            "reasons": DisputeReason.choices,
        },
    )


@login_required
def order_evidence_download(request: HttpRequest, order_id: int) -> HttpResponse:
    """The order's evidence as a JSON file to keep; `manage.py verify_evidence` checks it."""
    evidence = order_evidence_file(order_visible_to(_user(request), order_id))
    response = HttpResponse(
        json.dumps(evidence, ensure_ascii=False, indent=2), content_type="application/json; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="kabao-order-{order_id}-evidence.json"'
    response["Cache-Control"] = "no-store"
    return response


@login_required
def order_evidence_page(request: HttpRequest, order_id: int) -> HttpResponse:
    """The same evidence as a page to print (or save as PDF)."""
    order = order_visible_to(_user(request), order_id)
    evidence = order_evidence_file(order)
    for event in evidence["order"]["events"]:  # words on the page; the file keeps machine names
        event["label"] = EVENT_LABELS.get(event["event"], event["event"])
        event["note_label"] = EVENT_NOTES.get(event["note"], event["note"])
    return render(request, "disputes/evidence.html", {"order": order, "evidence": evidence})
