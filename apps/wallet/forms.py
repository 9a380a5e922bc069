from decimal import Decimal

from django import forms

from apps.billing.models import plans_subscribable
from apps.core.money import usd_to_micros
from apps.wallet.services.codes import MAX_BATCH, MAX_TRIAL_DAYS


class RedeemForm(forms.Form):
    code = forms.CharField(
        max_length=80, widget=forms.TextInput(attrs={"placeholder": "XXXXX-XXXXX-XXXXX-XXXXX-XXXXX", "size": 36})
    )


class CodeBatchMintForm(forms.Form):
    amount = forms.DecimalField(
        label="Credit (USD)", min_value=Decimal(0), max_digits=16, decimal_places=6, initial=Decimal("10.00")
    )
    count = forms.IntegerField(min_value=1, max_value=MAX_BATCH, initial=10)
    expires_at = forms.DateTimeField(
        label="Expires (UTC)", required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    campaign = forms.CharField(max_length=80, required=False)
    note = forms.CharField(max_length=200, required=False)
    distributor = forms.CharField(
        max_length=120, required=False, help_text="Partner or referrer the redemptions are attributed to."
    )

    trial_plan = forms.ChoiceField(label="Plan trial", required=False)
    trial_days = forms.IntegerField(label="Trial days", min_value=0, max_value=MAX_TRIAL_DAYS, required=False)

    def __init__(self, *args: object, activation: bool, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        if not activation:
            for name in ("distributor", "trial_plan", "trial_days"):
                del self.fields[name]
            return
        self.fields["amount"].initial = Decimal("1.00")
        self.fields["amount"].help_text = "Credit granted with the first key (0 for none)."
        trial_plans = plans_subscribable()
        self.fields["trial_plan"].choices = [("", "None"), *((plan.slug, plan.name) for plan in trial_plans)]  # type: ignore[attr-defined]

    def mint_arguments(self) -> dict[str, object]:
        data = self.cleaned_data
        return {
            "count": data["count"],
            "credit_micros": usd_to_micros(data["amount"]),
            "expires_at": data.get("expires_at"),
            "campaign": data.get("campaign", ""),
            "note": data.get("note", ""),
            "distributor": data.get("distributor", ""),
            "trial_plan": data.get("trial_plan", ""),
            "trial_days": data.get("trial_days") or 0,
        }


class BatchFilterForm(forms.Form):
    campaign = forms.CharField(max_length=80, required=False)
    state = forms.ChoiceField(choices=[("", "All"), ("active", "Active"), ("disabled", "Disabled")], required=False)


class InvoicedOrganizationForm(forms.Form):
    name = forms.CharField(max_length=120)
    admin_email = forms.EmailField(
        label="Admin email", help_text="Its confirmed account becomes admin; else it is invited to."
    )
