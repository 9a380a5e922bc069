"""Rolling a channel's routing back to one of its versions: the whole routing, as that version's YAML has it.

Unlike an import (which sets the aliases it names and leaves the others), a rollback restores the channel's
whole routing: aliases the version does not have are removed, and its router settings (none: the defaults)
replace the channel's. All or nothing.

An exported api_key is a `${NAME}` reference to a credential (yaml_export.credential_reference). A rollback
never reads the environment: apps.channels.routing_credentials says which credential a reference names; any
other reference refuses the rollback.
"""

from collections.abc import Callable

from django.db import transaction

from apps.accounts.models import User
from apps.audit.services import audit_record
from apps.channels.models import Channel, ChannelModel, RoutingVersion
from apps.channels.router_services import channel_router_set
from apps.channels.routing_credentials import reference_credentials
from apps.channels.routing_history import routing_change
from apps.channels.yaml_io import RoutingDocument, RoutingEntry, routing_document_apply, routing_document_read
from apps.channels.yaml_read import located
from apps.core.errors import NotFound
from apps.providers.models import ProviderCredential


def _credential_finder(
    channel: Channel, document: RoutingDocument
) -> Callable[[RoutingEntry], ProviderCredential | None]:
    by_reference = reference_credentials(channel, document)

    def credential_of(entry: RoutingEntry) -> ProviderCredential | None:
        if entry.api_key is not None:
            problem = "A version holds references, never keys: this is not an export."
            raise located(problem, f"{entry.path}.provider.api_key", document.lines)
        return by_reference(entry)

    return credential_of


def _aliases_remove(*, channel: Channel, keep: set[str], actor: User | None) -> list[str]:
    gone = ChannelModel.objects.filter(channel=channel).exclude(alias__in=keep)
    aliases = sorted(gone.values_list("alias", flat=True))
    if aliases:
        gone.delete()
        audit_record(
            actor=actor,
            action="channel.model_remove",
            target=channel,
            organization_id=channel.organization_id,
            before={"aliases": aliases},
        )
    return aliases


@transaction.atomic
def routing_rollback(*, channel: Channel, version: RoutingVersion, actor: User | None) -> Channel:
    """Re-apply `version`'s document as the channel's whole routing, recorded as a new version "rolled back to
    vN" and audited; InvalidDeployment (naming the field and line) if it cannot be, and nothing changes."""
    if version.channel_id != channel.pk:
        raise NotFound("That version is not one of this channel's.")
    # Not gated: every version was written by a change this instance's plan allowed (presets included).
    document = routing_document_read(version.document, aliases=(), router_allowed=True)
    with routing_change(channel=channel, actor=actor, summary=f"rolled back to v{version.number}"):
        # Platform credentials are attached only where _credential_finder found the pairing already in use.
        routing_document_apply(
            channel=channel,
            document=document,
            actor=actor,
            credential_of=_credential_finder(channel, document),
            platform_managed=True,
        )
        removed = _aliases_remove(channel=channel, keep={entry.alias for entry in document.entries}, actor=actor)
        if document.router is None:
            channel_router_set(channel=channel, router={}, actor=actor, gated=False)
        audit_record(
            actor=actor,
            action="channel.routing_rollback",
            target=channel,
            organization_id=channel.organization_id,
            after={"version": version.number, "removed_aliases": removed},
        )
    return channel
