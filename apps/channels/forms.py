from django import forms

from apps.channels.models import Deployment
from apps.channels.services import DeploymentSpec
from apps.providers.models import ProviderType


class ChannelYamlForm(forms.Form):
    yaml = forms.CharField(widget=forms.Textarea(attrs={"rows": 12, "spellcheck": "false"}), max_length=256 * 1024)


class ChannelCreateForm(forms.Form):
    name = forms.CharField(max_length=100)


class DeploymentForm(forms.Form):
    """One deployment of an alias. On edit, a blank API key keeps the deployment's credential."""

    alias = forms.CharField(max_length=200)
    provider = forms.ChoiceField(choices=ProviderType.choices)
    upstream_model = forms.CharField(max_length=200)
    api_base = forms.CharField(max_length=500)
    api_key = forms.CharField(
        max_length=4096, required=False, strip=True, widget=forms.PasswordInput(attrs={"autocomplete": "off"})
    )
    api_version = forms.CharField(max_length=40, required=False)
    weight = forms.IntegerField(min_value=1, max_value=1000, initial=1)
    tags = forms.CharField(max_length=500, required=False, help_text="Comma-separated")

    def __init__(self, *args: object, deployment: Deployment | None = None, **kwargs: object) -> None:
        if deployment is not None:
            kwargs.setdefault(
                "initial",
                {
                    "alias": deployment.channel_model.alias,
                    "provider": deployment.provider,
                    "upstream_model": deployment.upstream_model,
                    "api_base": deployment.api_base,
                    "api_version": deployment.api_version,
                    "weight": deployment.weight,
                    "tags": ", ".join(deployment.tags),
                },
            )
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.deployment = deployment
        if deployment is not None:
            self.fields["alias"].disabled = True

    def clean_tags(self) -> list[str]:
        return [tag.strip() for tag in self.cleaned_data["tags"].split(",") if tag.strip()]

    def spec(self) -> DeploymentSpec:
        """The deployment as entered; the credential is set by the service from `api_key`."""
        data = self.cleaned_data
        return DeploymentSpec(
            provider=data["provider"],
            upstream_model=data["upstream_model"],
            api_base=data["api_base"],
            api_version=data["api_version"],
            weight=data["weight"],
            tags=data["tags"],
        )
