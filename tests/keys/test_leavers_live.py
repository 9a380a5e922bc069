"""Live /v1 (uvicorn, the mock provider): a developer's key works, the developer is removed from the
organisation, and within about a second the gateway answers as the organisation's setting says."""

import time
import uuid

import openai
import pytest

from apps.accounts.services import user_create
from apps.keys.leavers import leaver_key_action_set
from apps.keys.services import key_generate
from apps.orgs.models import LeaverKeyAction, Membership
from apps.orgs.roles import Role
from apps.orgs.services.joining import member_add
from apps.orgs.services.memberships import membership_remove
from tests.world import World

pytestmark = pytest.mark.django_db


def _developer_key(world: World, action: str) -> tuple[Membership, str]:
    owner = world.organization.memberships.filter(team__isnull=True).first().user
    leaver_key_action_set(organization=world.organization, action=action, actor=owner)
    developer = user_create(email=f"dev-{uuid.uuid4().hex[:8]}@example.test", password=None, email_verified=True)
    member_add(organization=world.organization, team=world.team, user=developer, role=Role.DEVELOPER, actor=owner)
    _, plaintext = key_generate(
        organization=world.organization, team=world.team, user=developer, name="laptop", actor=developer
    )
    return Membership.objects.get(organization=world.organization, user=developer, team__isnull=True), plaintext


def _remove(membership: Membership) -> None:
    owner = membership.organization.memberships.filter(team__isnull=True, role=Role.ORG_ADMIN).first().user
    membership_remove(membership=membership, actor=owner)


def _answer(client: openai.OpenAI) -> str:
    """ "ok", or the error code of a 401."""
    try:
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    except openai.AuthenticationError as exc:
        return str(exc.code)
    return "ok"


@pytest.mark.parametrize(
    ("action", "answer"),
    [(LeaverKeyAction.PAUSE, "key_paused"), (LeaverKeyAction.REVOKE, "invalid_api_key"), (LeaverKeyAction.KEEP, "ok")],
)
def test_a_removed_developers_key_answers_per_the_setting_within_a_second(
    committed, own_world, live_server_url, action, answer
):
    membership, plaintext = committed(_developer_key, own_world, action)
    client = openai.OpenAI(api_key=plaintext, base_url=f"{live_server_url}/v1", max_retries=0, timeout=20)
    assert _answer(client) == "ok"  # warm: the server process now holds the key
    committed(_remove, membership)
    removed_at = time.monotonic()
    seen = _answer(client)
    while seen != answer and time.monotonic() - removed_at < 1.5:
        time.sleep(0.05)
        seen = _answer(client)
    assert seen == answer, f"still {seen!r} 1.5 s after the removal"
    time.sleep(max(0.0, 1.2 - (time.monotonic() - removed_at)))  # past the gateway's 1 s cache: it stays so
    assert _answer(client) == answer
