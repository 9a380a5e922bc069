"""An exported routing document's `${NAME}` api_keys (yaml_export.credential_reference) read back as credentials,
never from the environment: by a rollback, and by the Channels page's YAML editor (whose text starts as an export).

A reference names a credential of the channel's organisation (of the same provider first, then one the channel
uses now, then the newest), or one of the platform's credentials where this instance already pairs it with the
same provider and api_base (set by an operator: the platform's keys never go to a URL a tenant chose). Any other
reference is refused, naming the field and its line.
"""

from collections.abc import Callable
from typing import TYPE_CHECKING

from apps.channels.models import Channel, Deployment
from apps.channels.yaml_export import credential_reference
from apps.channels.yaml_read import located
from apps.providers.models import ProviderCredential

if TYPE_CHECKING:  # yaml_io reads references with this module
    from apps.channels.yaml_io import RoutingDocument, RoutingEntry


def _platform_credentials(entry: "RoutingEntry") -> list[ProviderCredential]:
    """The platform's credentials some deployment of this instance already pairs with the entry's upstream."""
    return list(
        ProviderCredential.objects.filter(
            organization__isnull=True,
            deployments__provider=entry.spec.provider,
            deployments__api_base=entry.spec.api_base,
        ).distinct()
    )


def reference_credentials(
    channel: Channel, document: "RoutingDocument"
) -> Callable[["RoutingEntry"], ProviderCredential | None]:
    """The credential each entry's `${NAME}` names (None: the entry has no reference)."""
    own: dict[str, list[ProviderCredential]] = {}
    for credential in ProviderCredential.objects.filter(organization_id=channel.organization_id):
        own.setdefault(credential_reference(credential), []).append(credential)
    in_use = set(Deployment.objects.filter(channel_model__channel=channel).values_list("credential_id", flat=True))

    def credential_of(entry: "RoutingEntry") -> ProviderCredential | None:
        if entry.reference is None:
            return None
        candidates = own.get(entry.reference) or [
            credential
            for credential in _platform_credentials(entry)
            if credential_reference(credential) == entry.reference
        ]
        if not candidates:
            problem = f"No credential of this organisation is exported as ${{{entry.reference}}}; add it again first."
            raise located(problem, f"{entry.path}.provider.api_key", document.lines)
        return max(candidates, key=lambda c: (c.provider == entry.spec.provider, c.pk in in_use, c.pk))

    return credential_of
