"""The Plans page (subscribe, change, pause, top up; staff grant plans in test mode) and Stripe's webhook."""

from collections.abc import Callable

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from apps.billing.forms import PauseForm, PlanChoiceForm, TopUpForm
from apps.billing.models import Plan
from apps.billing.services.checkout import (
    plan_choose,
    plan_pause,
    plan_resume,
    topup_checkout_start,
)
from apps.billing.services.webhooks import stripe_event_handle, stripe_event_verify
from apps.billing.stripe_api import stripe_configured
from apps.core.errors import HyditeError, error_envelope
from apps.dashboard.edge import checked, org_page
from apps.orgs.access import OrgAccess
from apps.orgs.roles import Action
from apps.wallet.access import access_operator
from apps.wallet.selectors import organization_seats_used, plan_in_force, subscription_for, wallet_for
from apps.wallet.services.subscriptions import subscription_grant


@csrf_exempt  # Stripe signs the body instead
@require_POST
def stripe_webhook_view(request: HttpRequest) -> JsonResponse:
    """POST /billing/stripe/webhook: 400 and nothing changed unless the signature holds; 200 once handled."""
    try:
        event = stripe_event_verify(payload=request.body, signature=request.headers.get("Stripe-Signature"))
        outcome = stripe_event_handle(event=event)
    except HyditeError as exc:  # nothing of the event was kept: Stripe delivers it again
        return JsonResponse(error_envelope(exc), status=exc.status)
    return JsonResponse({"received": True, "outcome": outcome})


def _page(request: HttpRequest, access: OrgAccess, *, status: int = 200, error: str = "") -> HttpResponse:
    organization = access.organization
    context = {
        "plans": list(Plan.objects.filter(is_active=True)),
        "subscription": subscription_for(organization=organization),
        "plan_in_force": plan_in_force(organization=organization),
        "wallet": wallet_for(organization=organization),
        "seats_used": organization_seats_used(organization=organization),
        "stripe": stripe_configured(),
        "can_manage": access.can(Action.MANAGE_ORG),
        "staff": access.user.is_staff,
        "pause_form": PauseForm(),
        "topup_form": TopUpForm(),
        "error": error,
    }
    return render(request, "billing/plans.html", context, status=status)


@org_page()
def plans_view(request: HttpRequest, access: OrgAccess) -> HttpResponse:
    if request.GET.get("checkout") == "success":
        messages.success(request, "Payment received by Stripe: the page updates as soon as Stripe confirms it.")
    return _page(request, access)


def _urls(request: HttpRequest, access: OrgAccess) -> dict[str, str]:
    page = request.build_absolute_uri(reverse("billing:plans", args=[access.organization.slug]))
    return {"success_url": f"{page}?checkout=success", "cancel_url": page}


def _action(request: HttpRequest, access: OrgAccess, run: Callable[[], object], done: str) -> HttpResponse:
    """Run one service call; a redirect it returns (Stripe Checkout) is followed, an error shown on the page."""
    try:
        outcome = run()
    except HyditeError as exc:
        return _page(request, access, status=exc.status, error=exc.message)
    if isinstance(outcome, str) and outcome.startswith("http"):
        return redirect(outcome)
    messages.success(request, done)
    return redirect("billing:plans", org_slug=access.organization.slug)


def _plan_action(
    request: HttpRequest, access: OrgAccess, run: Callable[[Plan], object], done: Callable[[Plan], str]
) -> HttpResponse:
    """`_action` on the plan the form names (the page again, 400, when it names none)."""
    form = PlanChoiceForm(request.POST)
    if not form.is_valid():
        return _page(request, access, status=400, error="Choose a plan.")
    plan: Plan = form.cleaned_data["plan"]
    return _action(request, access, lambda: run(plan), done(plan))


@require_POST
@org_page(Action.MANAGE_ORG)
def subscribe_view(request: HttpRequest, access: OrgAccess) -> HttpResponse:
    return _plan_action(
        request,
        access,
        lambda plan: plan_choose(
            organization=access.organization, plan=plan, user=access.user, **_urls(request, access)
        ),
        lambda plan: f"Plan changed to {plan.name}.",
    )


@require_POST
@org_page(Action.MANAGE_ORG)
def pause_view(request: HttpRequest, access: OrgAccess) -> HttpResponse:
    form = PauseForm(request.POST)
    current = subscription_for(organization=access.organization)
    if not form.is_valid() or current is None:
        return _page(request, access, status=400, error="A pause lasts 1 to 30 days, on a plan in force.")
    days = form.cleaned_data["days"]
    return _action(
        request,
        access,
        lambda: plan_pause(subscription=current, days=days, actor=access.user),
        f"Plan paused for {days} day(s): Free terms apply until it resumes.",
    )


@require_POST
@org_page(Action.MANAGE_ORG)
def resume_view(request: HttpRequest, access: OrgAccess) -> HttpResponse:
    current = subscription_for(organization=access.organization)
    if current is None:
        return _page(request, access, status=400, error="There is no plan to resume.")
    return _action(request, access, lambda: plan_resume(subscription=current, actor=access.user), "Plan resumed.")


@require_POST
@org_page(Action.MANAGE_ORG)
def topup_view(request: HttpRequest, access: OrgAccess) -> HttpResponse:
    form = TopUpForm(request.POST)
    if not form.is_valid():
        return _page(request, access, status=400, error="A top-up is $1.00 to $10,000.00.")
    return _action(
        request,
        access,
        lambda: topup_checkout_start(
            organization=access.organization,
            amount_micros=form.amount_micros(),
            user=access.user,
            **_urls(request, access),
        ),
        "",
    )


@require_POST
@org_page()
def grant_view(request: HttpRequest, access: OrgAccess) -> HttpResponse:
    """Test mode, operators: put a plan in force without Stripe (renewed monthly)."""
    checked(access_operator, user=access.user)
    return _plan_action(
        request,
        access,
        lambda plan: subscription_grant(organization=access.organization, plan=plan, actor=access.user),
        lambda plan: f"{plan.name} granted (test mode).",
    )
