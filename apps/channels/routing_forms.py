"""The Channels page's routing forms: the common settings (a preset, retries, a fallback chain per alias) and the
dry run's sample requests. The services check what the forms pass on; the forms only parse."""

import re
from typing import Any

from django import forms

from apps.channels.models import Channel
from apps.channels.router_policy import ROUTING_PRESETS
from apps.channels.routing_dry_run import DRY_RUN_SAMPLES_MAX, DryRunSample
from apps.channels.routing_yaml import CHAIN_MAX, HEADER_NAME, RETRIES_MAX, RULE_EQUALS_MAX_LENGTH
from apps.channels.selectors import channel_router_preset
from apps.channels.services import ALIAS_MAX_LENGTH, TAG_MAX_LENGTH, TAGS_MAX, InvalidDeployment
from apps.channels.yaml_read import MAX_YAML_ENTRIES

CHAIN_TEXT_MAX = CHAIN_MAX * (ALIAS_MAX_LENGTH + 2)
HEADERS_MAX = 16
SESSION_MAX_LENGTH = 200  # what the gateway reads of a session id


def _printable(value: str) -> str:
    if not value.isprintable():
        raise forms.ValidationError("Must not contain control characters (line breaks, tabs, …).")
    return value


class RoutingSettingsForm(forms.Form):
    preset = forms.ChoiceField(
        required=False, choices=[("", "Keep the current policy"), *((name, name) for name in ROUTING_PRESETS)]
    )
    retries = forms.IntegerField(required=False, min_value=0, max_value=RETRIES_MAX)

    @classmethod
    def for_channel(cls, channel: Channel) -> "RoutingSettingsForm":
        """Retries start blank unless the channel overrides its preset's (blank: the preset's, or as now)."""
        preset = channel_router_preset(channel=channel)
        retries = channel.router.get("retries") if preset is None else None
        return cls(initial={"preset": preset or "", "retries": retries})


class FallbackForm(forms.Form):
    alias = forms.CharField(widget=forms.HiddenInput, max_length=ALIAS_MAX_LENGTH)
    chain = forms.CharField(required=False, max_length=CHAIN_TEXT_MAX)

    def clean_chain(self) -> list[str]:
        return [alias.strip() for alias in self.cleaned_data["chain"].split(",") if alias.strip()]


FallbackFormSet = forms.formset_factory(
    FallbackForm, extra=0, max_num=MAX_YAML_ENTRIES, validate_max=True, absolute_max=MAX_YAML_ENTRIES
)


def fallback_forms(channel: Channel, aliases: list[str], data: Any = None) -> Any:
    """One chain per alias of the channel, as it is now."""
    chains = channel.router.get("fallbacks", {})
    initial = [{"alias": alias, "chain": ", ".join(chains.get(alias, []))} for alias in aliases]
    return FallbackFormSet(data, initial=initial, prefix="fallbacks")


def routing_settings_error(form: RoutingSettingsForm, fallbacks: Any, exc: InvalidDeployment) -> None:
    """Show the service's refusal on the field it names: `preset`, `router.retries`, `router.fallbacks.<alias>…`."""
    param = (exc.param or "").removeprefix("router.")
    if param.startswith("fallbacks."):
        named = param.removeprefix("fallbacks.")
        for chain_form in fallbacks.forms:
            alias = chain_form.cleaned_data.get("alias", "")
            if re.fullmatch(re.escape(alias) + r"(\[\d+\])?", named):
                chain_form.add_error("chain", exc.message)
                return
    if param in form.fields:
        form.add_error(param, exc.message)
    else:
        form.add_error(None, f"{exc.param}: {exc.message}" if exc.param else exc.message)


class DryRunSampleForm(forms.Form):
    alias = forms.CharField(
        required=False, max_length=ALIAS_MAX_LENGTH, widget=forms.TextInput(attrs={"list": "channel-aliases"})
    )
    tags = forms.CharField(required=False, max_length=TAGS_MAX * (TAG_MAX_LENGTH + 2), label="X-Hydite-Tags")
    headers = forms.CharField(
        required=False,
        max_length=HEADERS_MAX * (64 + RULE_EQUALS_MAX_LENGTH + 4),
        widget=forms.Textarea(attrs={"rows": 2, "spellcheck": "false"}),
        help_text="One `name: value` a line",
    )
    session = forms.CharField(required=False, max_length=SESSION_MAX_LENGTH, label="Session or user")

    def clean_tags(self) -> str:
        return _printable(self.cleaned_data["tags"])

    def clean_session(self) -> str:
        return _printable(self.cleaned_data["session"])

    def clean_headers(self) -> dict[str, str]:
        lines = [line.strip() for line in self.cleaned_data["headers"].splitlines() if line.strip()]
        if len(lines) > HEADERS_MAX:
            raise forms.ValidationError(f"At most {HEADERS_MAX} headers.")
        headers = {}
        for number, line in enumerate(lines, start=1):
            name, colon, value = line.partition(":")
            if not colon or not HEADER_NAME.fullmatch(name.strip()):
                raise forms.ValidationError(f"Line {number}: `name: value`, the name a header name.")
            if len(value.strip()) > RULE_EQUALS_MAX_LENGTH:
                raise forms.ValidationError(f"Line {number}: at most {RULE_EQUALS_MAX_LENGTH} characters a value.")
            headers[name.strip().lower()] = _printable(value.strip())
        return headers

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not data.get("alias") and (data.get("tags") or data.get("headers") or data.get("session")):
            self.add_error("alias", "Which alias would this request name?")
        return data

    def sample(self) -> DryRunSample | None:
        data = self.cleaned_data
        if not data.get("alias"):
            return None
        return DryRunSample(alias=data["alias"], tags=data["tags"], headers=data["headers"], session=data["session"])


class _DryRunFormSet(forms.BaseFormSet):
    def clean(self) -> None:
        super().clean()
        if not any(self.errors) and not self.samples():
            raise forms.ValidationError("Name an alias in at least one sample.")

    def samples(self) -> list[DryRunSample]:
        return [sample for form in self.forms if (sample := form.sample()) is not None]


DryRunFormSet = forms.formset_factory(
    DryRunSampleForm,
    formset=_DryRunFormSet,
    extra=DRY_RUN_SAMPLES_MAX,
    max_num=DRY_RUN_SAMPLES_MAX,
    validate_max=True,
    absolute_max=DRY_RUN_SAMPLES_MAX,
)


def dry_run_forms(data: Any = None) -> Any:
    return DryRunFormSet(data, prefix="samples")
