"""Webhook endpoints: add, enable or disable, remove. Each change is audited; the secret never is."""

import secrets
from typing import Any

from django.conf import settings
from django.db import transaction

from apps.accounts.models import User
from apps.audit.services import audit_record, audited_update
from apps.core.secrets import secret_encrypt, secret_hint
from apps.notifications.errors import InvalidWebhookEndpoint
from apps.notifications.models import EVENT_TYPES, WebhookEndpoint
from apps.orgs.models import Organization
from apps.providers.url_safety import UnsafeUpstream, url_check

MAX_ENDPOINTS_PER_ORGANIZATION = 10
SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret
EVENT_TYPE_NAMES = sorted(EVENT_TYPES.values())


def _state(endpoint: WebhookEndpoint) -> dict[str, Any]:
    return {"url": endpoint.url, "events": endpoint.events, "enabled": endpoint.enabled}


def _checked_url(url: str) -> str:
    url = url.strip()
    try:
        url_check(
            url,
            allowlist=settings.WEBHOOK_ALLOWLIST,
            require_https=settings.WEBHOOK_REQUIRE_HTTPS,
            name="The webhook URL",
        )
    except UnsafeUpstream as exc:
        raise InvalidWebhookEndpoint(str(exc), param="url") from exc
    return url


def _checked_events(events: list[str]) -> list[str]:
    unknown = set(events) - set(EVENT_TYPE_NAMES)
    if unknown or not events:
        raise InvalidWebhookEndpoint(f"Choose events among {', '.join(EVENT_TYPE_NAMES)}.", param="events")
    return sorted(set(events))


@transaction.atomic
def webhook_endpoint_create(
    *, organization: Organization, url: str, events: list[str], actor: User
) -> tuple[WebhookEndpoint, str]:
    """Add an endpoint; returns it with its signing secret, which is shown this once and stored encrypted."""
    url, events = _checked_url(url), _checked_events(events)
    if WebhookEndpoint.objects.filter(organization=organization).count() >= MAX_ENDPOINTS_PER_ORGANIZATION:
        raise InvalidWebhookEndpoint(f"An organisation has at most {MAX_ENDPOINTS_PER_ORGANIZATION} webhook endpoints.")
    secret = SECRET_PREFIX + secrets.token_hex(24)
    endpoint = WebhookEndpoint.objects.create(
        organization=organization,
        url=url,
        events=events,
        secret_encrypted=secret_encrypt(secret),
        secret_hint=secret_hint(secret),
        created_by=actor,
    )
    audit_record(
        actor=actor,
        action="webhook_endpoint.create",
        target=endpoint,
        organization_id=organization.pk,
        after=_state(endpoint),
    )
    return endpoint, secret


@transaction.atomic
def webhook_endpoint_set_enabled(*, endpoint: WebhookEndpoint, enabled: bool, actor: User) -> WebhookEndpoint:
    if endpoint.enabled == enabled:
        return endpoint
    audited_update(
        endpoint,
        changes={"enabled": enabled},
        actor=actor,
        action="webhook_endpoint.update",
        organization_id=endpoint.organization_id,
        state=lambda: _state(endpoint),
    )
    return endpoint


@transaction.atomic
def webhook_endpoint_delete(*, endpoint: WebhookEndpoint, actor: User) -> None:
    audit_record(
        actor=actor,
        action="webhook_endpoint.delete",
        target=endpoint,
        organization_id=endpoint.organization_id,
        before=_state(endpoint),
    )
    endpoint.delete()
