from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from apps.core.errors import HyditeError
from apps.dashboard.edge import checked, form_error, org_page
from apps.orgs.access import OrgAccess
from apps.providers.forms import PriceOverrideForm
from apps.providers.models import PriceOverride, PriceSheetVersion
from apps.providers.prices import price_sheet
from apps.providers.pricing import price_override_create
from apps.wallet.access import access_operator


@org_page()
def prices_view(request: HttpRequest, access: OrgAccess) -> HttpResponse:
    """Operators: the price sheet in force, the versions loaded, and price overrides (add one)."""
    checked(access_operator, user=access.user)
    form = PriceOverrideForm(request.POST or None, organization_id=access.organization.pk)
    if request.method == "POST" and form.is_valid():
        try:
            override = price_override_create(
                model=form.cleaned_data["model"],
                channel=form.cleaned_data["channel"],
                effective_from=form.cleaned_data["effective_from"],
                prices=form.prices(),
                note=form.cleaned_data["note"],
                actor=access.user,
            )
        except HyditeError as exc:
            form_error(form, exc)
        else:
            messages.success(request, f"Override {override.pk} for {override.model} saved.")
            return redirect("providers:prices", org_slug=access.organization.slug)
    sheet = price_sheet()
    context = {
        "sheet": sheet,
        "sheet_models": sorted(sheet.models.items()),
        "versions": PriceSheetVersion.objects.order_by("-effective_from", "-version"),
        "overrides": PriceOverride.objects.select_related("channel", "created_by").order_by("-effective_from")[:200],
        "form": form,
    }
    return render(request, "providers/prices.html", context, status=400 if form.errors else 200)
