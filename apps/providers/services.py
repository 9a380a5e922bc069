from django.db import transaction

from apps.core.secrets import secret_encrypt, secret_hint
from apps.orgs.models import Organization
from apps.providers.models import ProviderCredential, ProviderType


@transaction.atomic
def provider_credential_create(
    *, organization: Organization | None, name: str, provider: str, secret: str
) -> ProviderCredential:
    if provider not in ProviderType.values:
        raise ValueError(f"unknown provider {provider!r}")
    return ProviderCredential.objects.create(
        organization=organization,
        name=name,
        provider=provider,
        secret_encrypted=secret_encrypt(secret),
        secret_hint=secret_hint(secret),
    )
