from decimal import Decimal

from django import forms

from apps.billing.models import Plan
from apps.core.money import usd_to_micros
from apps.wallet.services.subscriptions import MAX_PAUSE_DAYS


class PlanChoiceForm(forms.Form):
    plan = forms.SlugField(max_length=32)

    def clean_plan(self) -> Plan:
        plan = Plan.objects.filter(slug=self.cleaned_data["plan"], is_active=True).first()
        if plan is None:
            raise forms.ValidationError("Unknown plan.")
        return plan


class PauseForm(forms.Form):
    days = forms.IntegerField(min_value=1, max_value=MAX_PAUSE_DAYS, initial=7)


class TopUpForm(forms.Form):
    amount = forms.DecimalField(label="Amount (USD)", min_value=Decimal("1.00"), max_digits=9, decimal_places=2)

    def amount_micros(self) -> int:
        return usd_to_micros(self.cleaned_data["amount"]) or 0
