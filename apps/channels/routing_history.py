"""Every change to a channel's routing leaves a RoutingVersion: the channel's whole routing YAML after it."""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.db import transaction

from apps.accounts.models import User
from apps.channels.models import Channel, RoutingVersion
from apps.channels.yaml_export import channel_yaml_export

BASELINE_SUMMARY = "as it was before its first recorded change"
SUMMARY_MAX_LENGTH = 200  # RoutingVersion.summary

# Channels with a change in progress in this context: a change made inside another records nothing itself.
_changing: ContextVar[frozenset[int]] = ContextVar("routing_changing", default=frozenset())


def _version_record(*, channel: Channel, actor: User | None, summary: str) -> RoutingVersion | None:
    """A new version if the channel's document differs from its latest version's."""
    document = channel_yaml_export(channel=channel)
    latest = channel.routing_versions.order_by("-number").first()
    if latest is not None and latest.document == document:
        return None
    return RoutingVersion.objects.create(
        channel=channel,
        number=1 if latest is None else latest.number + 1,
        document=document,
        author=actor,
        summary=summary[:SUMMARY_MAX_LENGTH],
    )


@contextmanager
def routing_change(*, channel: Channel, actor: User | None, summary: str) -> Iterator[None]:
    """Record one routing version for what is done inside, in the same transaction (none if the document is
    as it was). Changes made inside it (channel_model_set within an import) record nothing of their own: the
    outermost change's summary says what happened. Routing changes to one channel are serialised (row lock).

    A channel's first recorded change is preceded by a version of how it was, so it can be rolled back to."""
    changing = _changing.get()
    if channel.pk in changing:
        yield
        return
    token = _changing.set(changing | {channel.pk})
    try:
        with transaction.atomic():
            locked = Channel.objects.select_for_update().get(pk=channel.pk)
            if not locked.routing_versions.exists() and (locked.router or locked.models.exists()):
                _version_record(channel=locked, actor=None, summary=BASELINE_SUMMARY)
            yield
            locked.refresh_from_db(fields=["router"])
            _version_record(channel=locked, actor=actor, summary=summary)
    finally:
        _changing.reset(token)
