from django import forms

from apps.notifications.models import EVENT_TYPES, AlertKind

EVENT_CHOICES = [(event_type, f"{event_type} ({AlertKind(kind).label})") for kind, event_type in EVENT_TYPES.items()]


class WebhookEndpointForm(forms.Form):
    url = forms.CharField(max_length=500, label="URL", widget=forms.URLInput(attrs={"placeholder": "https://"}))
    events = forms.MultipleChoiceField(
        choices=EVENT_CHOICES, widget=forms.CheckboxSelectMultiple, initial=[value for value, _ in EVENT_CHOICES]
    )


class WebhookEndpointToggleForm(forms.Form):
    enabled = forms.BooleanField(required=False)
