"""Virtual keys: mint, regenerate, pause, resume, revoke, rename. Each change is audited and published."""

import hashlib
import secrets
from collections.abc import Mapping
from functools import partial

from django.db import transaction
from django.utils import timezone

from apps.accounts.models import User
from apps.audit.services import audit_record, audited_update
from apps.channels.models import Channel
from apps.channels.services import channel_default_ensure
from apps.core.errors import PermissionDenied
from apps.core.schemas import current_schema
from apps.keys.errors import InvalidKey, KeyOwnerMayNotUseKeys, KeyRevoked
from apps.keys.models import KeyStatus, ManagementKey, VirtualKey
from apps.keys.selectors import key_owner_may_use, teams_where_user_may_use_keys
from apps.keys.snapshots import key_snapshot_publish
from apps.orgs.models import Membership, Organization, Team
from apps.quotas.models import QUOTA_FIELD_NAMES
from apps.tenancy.models import KeyRoute

KEY_PREFIX = "sk-hydite-"
OWNER_LEFT = "owner_left"  # audit reason: the key's owner may no longer use it (left, demoted, deactivated)
SHOWN_TO_LEAVER = "shown_to_leaver"  # audit reason: someone else's key whose secret a leaver was shown
STATUS_ACTIONS = {KeyStatus.ACTIVE: "key.resume", KeyStatus.PAUSED: "key.pause", KeyStatus.REVOKED: "key.revoke"}


def key_hash(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def _new_secret() -> str:
    return KEY_PREFIX + secrets.token_hex(16)


def _secret_fields(plaintext: str) -> dict[str, str]:
    """What a key stores of its secret: the hash, and the ends shown to tell keys apart."""
    prefix, suffix = plaintext[: len(KEY_PREFIX) + 4], plaintext[-4:]
    return {"key_hash": key_hash(plaintext), "key_prefix": prefix, "key_suffix": suffix}


def _publish_on_commit(*hashes: str) -> None:
    for hashed in hashes:
        transaction.on_commit(partial(key_snapshot_publish, key_hash=hashed))


def _state(key: VirtualKey) -> dict[str, str]:
    return {"name": key.name, "status": key.status, "key": key.display}


@transaction.atomic
def key_generate(
    *,
    organization: Organization,
    team: Team,
    user: User,
    name: str,
    actor: User,
    channel: Channel | None = None,
    plaintext: str | None = None,
    limits: Mapping[str, object] | None = None,
) -> tuple[VirtualKey, str]:
    """Mint a key with its limits (as key_update_limits takes them, but the name); returns it with its clear
    text, which is never stored and never shown again. One audit event, one snapshot publish.

    `plaintext` lets the demo seed keep one stable key across runs; it must look like a real key.
    """
    limits = dict(limits or {})
    _limits_check(limits, KEY_SETTINGS - {"name"})
    if team.organization_id != organization.pk:
        raise InvalidKey("The team belongs to another organisation.", param="team_id")
    _mint_allowed(organization=organization, team=team, user=user, actor=actor)
    if channel is None:
        channel = channel_default_ensure(organization=organization, actor=actor)
    elif channel.organization_id != organization.pk:
        raise InvalidKey("The channel belongs to another organisation.", param="channel")
    secret = plaintext or _new_secret()
    if not secret.startswith(KEY_PREFIX) or len(secret) != len(KEY_PREFIX) + 32:
        raise InvalidKey("A key is sk-hydite- followed by 32 hex characters.", param="key")
    key = VirtualKey(
        organization=organization,
        team=team,
        user=user,
        secret_shown_to=actor,
        channel=channel,
        name=name.strip() or "key",
        **limits,
        **_secret_fields(secret),
    )
    key.save()
    KeyRoute.objects.create(key_hash=key.key_hash, schema_name=current_schema())
    after = _state(key) | {name: _jsonable(getattr(key, name)) for name in limits}
    audit_record(actor=actor, action="key.create", target=key, organization_id=organization.pk, after=after)
    _publish_on_commit(key.key_hash)
    return key, secret


def _mint_allowed(*, organization: Organization, team: Team, user: User, actor: User) -> None:
    """The owner may use keys in the team (or is the operator minting through an instance-wide key), and the
    minter may still be shown a secret there."""
    people = _people_locked(user, actor)
    owner, minter = people[user.pk], people[actor.pk]
    operator = _secret_recipient_check(organization_id=organization.pk, recipient=minter)
    teams = teams_where_user_may_use_keys(organization_id=organization.pk, user=owner)
    if teams is not None and team.pk not in teams and not (operator and owner.pk == minter.pk):
        raise KeyOwnerMayNotUseKeys(param="user_id")


def _people_locked(*users: User) -> dict[int, User]:
    """The users' rows, read now and locked: every change of their access takes these locks too (membership
    changes, deactivation in the admin), so a secret given out during a departure waits for it and is refused,
    or is given first and found by it (apps.keys.leavers)."""
    return User.objects.select_for_update().filter(pk__in={user.pk for user in users}).order_by("pk").in_bulk()


def _secret_recipient_check(*, organization_id: int, recipient: User) -> bool:
    """`recipient` (read under _people_locked) is still in the organisation, or an operator (True)."""
    operator = recipient.is_active and recipient.is_staff
    member = Membership.objects.filter(organization_id=organization_id, user=recipient, team__isnull=True).exists()
    if not (recipient.is_active and member) and not operator:
        raise PermissionDenied("You are no longer in this organisation.")
    return operator


@transaction.atomic
def key_regenerate(*, key: VirtualKey, actor: User) -> tuple[VirtualKey, str]:
    """A new secret for the same key record, shown to `actor`; the old one stops working at once."""
    if key.status == KeyStatus.REVOKED:
        raise KeyRevoked()
    _secret_recipient_check(organization_id=key.organization_id, recipient=_people_locked(actor)[actor.pk])
    old_hash, secret = key.key_hash, _new_secret()
    audited_update(
        key,
        changes={**_secret_fields(secret), "regenerated_at": timezone.now(), "secret_shown_to": actor},
        actor=actor,
        action="key.regenerate",
        organization_id=key.organization_id,
        state=lambda: _state(key),
    )
    KeyRoute.objects.filter(key_hash=old_hash).delete()
    KeyRoute.objects.create(key_hash=key.key_hash, schema_name=current_schema())
    _publish_on_commit(old_hash, key.key_hash)
    return key, secret


@transaction.atomic
def key_set_status(*, key: VirtualKey, status: str, actor: User | None, reason: str = "") -> VirtualKey:
    """Pause, resume or revoke; revoking is final. `reason` (e.g. OWNER_LEFT) goes into the audit event.

    Resuming a key whose owner may no longer use it (they left) makes it its team's key (no owner).
    """
    if status not in KeyStatus.values:
        raise InvalidKey(f"Unknown key status {status!r}.", param="status")
    list(VirtualKey.objects.select_for_update().filter(pk=key.pk).values_list("pk"))  # a departure goes first
    key.refresh_from_db()
    if key.status == status:
        return key
    if key.status == KeyStatus.REVOKED:
        raise KeyRevoked()
    if status == KeyStatus.ACTIVE and actor is not None and actor.pk in (key.user_id, key.secret_shown_to_id):
        _resume_by_holder_check(key=key, actor=actor)
    if status == KeyStatus.ACTIVE and not key_owner_may_use(key=key):
        key_owner_release(key=key, actor=actor)
    before = _state(key)
    key.status = status
    update = ["status"]
    if status == KeyStatus.REVOKED:
        key.revoked_at = timezone.now()
        update.append("revoked_at")
    key.save(update_fields=update)
    audit_record(
        actor=actor,
        action=STATUS_ACTIONS[KeyStatus(status)],
        target=key,
        organization_id=key.organization_id,
        before=before,
        after=_state(key) | ({"reason": reason} if reason else {}),
    )
    _publish_on_commit(key.key_hash)
    return key


def _resume_by_holder_check(*, key: VirtualKey, actor: User) -> None:
    """Its owner or secret holder resumes the key only while they may use keys in its team (read now, after
    any departure that waited on the key's row)."""
    fresh = User.objects.get(pk=actor.pk)
    teams = teams_where_user_may_use_keys(organization_id=key.organization_id, user=fresh)
    if teams is not None and key.team_id not in teams and not (fresh.is_active and fresh.is_staff):
        raise PermissionDenied("You may no longer use this key.")


@transaction.atomic
def key_owner_release(*, key: VirtualKey, actor: User | None) -> VirtualKey:
    """Make a key its team's (a service-account key, no owner) because its owner may no longer use it."""
    if key.user is None:
        return key
    before = {"user": key.user.email}
    key.user = None
    key.save(update_fields=["user"])
    audit_record(
        actor=actor,
        action="key.owner_release",
        target=key,
        organization_id=key.organization_id,
        before=before,
        after={"user": None, "reason": OWNER_LEFT},
    )
    _publish_on_commit(key.key_hash)  # spend is no longer attributed to the person
    return key


@transaction.atomic
def key_rename(*, key: VirtualKey, name: str, actor: User) -> VirtualKey:
    name = name.strip()
    if not name:
        raise InvalidKey("A key needs a name.", param="key_alias")
    audited_update(
        key,
        changes={"name": name},
        actor=actor,
        action="key.update",
        organization_id=key.organization_id,
        state=lambda: _state(key),
    )
    return key


MANAGEMENT_KEY_PREFIX = "sk-hydite-admin-"


@transaction.atomic
def management_key_create(
    *, organization: Organization | None, name: str, actor: User, plaintext: str | None = None
) -> tuple[ManagementKey, str]:
    """A management API key for one organisation, or (organization None, staff only) the instance."""
    if organization is None and not actor.is_staff:
        raise InvalidKey("Only staff may create instance-wide management keys.", param="organization")
    secret = plaintext or MANAGEMENT_KEY_PREFIX + secrets.token_hex(16)
    if not secret.startswith(MANAGEMENT_KEY_PREFIX) or len(secret) != len(MANAGEMENT_KEY_PREFIX) + 32:
        raise InvalidKey("A management key is sk-hydite-admin- followed by 32 hex characters.", param="key")
    key = ManagementKey.objects.create(
        organization=organization,
        created_by=actor,
        name=name,
        key_hash=key_hash(secret),
        key_prefix=secret[: len(MANAGEMENT_KEY_PREFIX) + 4],
    )
    audit_record(
        actor=actor,
        action="management_key.create",
        target=key,
        organization_id=organization.pk if organization else None,
        after={"name": name},
    )
    return key, secret


@transaction.atomic
def key_update_limits(*, key: VirtualKey, actor: User, **limits: object) -> VirtualKey:
    """Set any quota field (apps.quotas.models.QuotaFields), expires_at, metadata or name."""
    _limits_check(limits)
    if key.status == KeyStatus.REVOKED:
        raise KeyRevoked()
    if not limits:
        return key
    audited_update(
        key,
        changes=dict(limits),
        actor=actor,
        action="key.update",
        organization_id=key.organization_id,
        state=lambda: {name: _jsonable(getattr(key, name)) for name in limits},
    )
    _publish_on_commit(key.key_hash)
    return key


KEY_SETTINGS = frozenset({*QUOTA_FIELD_NAMES, "expires_at", "metadata", "name"})  # what key_update_limits sets


def _limits_check(limits: Mapping[str, object], allowed: frozenset[str] = KEY_SETTINGS) -> None:
    unknown = set(limits) - allowed
    if unknown:
        raise InvalidKey(f"Unknown field(s): {', '.join(sorted(unknown))}.", param=sorted(unknown)[0])


def _jsonable(value: object) -> object:
    return value.isoformat() if hasattr(value, "isoformat") else value
