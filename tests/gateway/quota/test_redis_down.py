"""When Redis goes away: fail closed (503) or fail open (per-process limits), and recover when it returns."""

import time
import uuid

import httpx
import pytest

from apps.keys.services import key_generate, key_update_limits
from tests.conftest import live_server_env
from tests.live import free_port, uvicorn_server, valkey

pytestmark = pytest.mark.django_db


def _key_with_rpm(world, rpm: int) -> str:  # type: ignore[no-untyped-def]
    owner = world.organization.memberships.filter(team__isnull=True).first().user
    key, plaintext = key_generate(
        organization=world.organization, team=world.team, user=owner, name=f"down-{uuid.uuid4().hex[:6]}", actor=owner
    )
    key_update_limits(key=key, actor=owner, rpm_limit=rpm)
    return plaintext


def _post(url: str, key: str) -> httpx.Response:
    return httpx.post(
        f"{url}/v1/chat/completions",
        headers={"Authorization": f"Bearer {key}"},
        json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}]},
        timeout=20,
    )


@pytest.mark.parametrize("policy", ["closed", "open"])
def test_redis_outage_policy_and_recovery(committed, world, tmp_path, policy):
    key = committed(_key_with_rpm, world, 2)
    port = free_port()
    env = live_server_env(REDIS_URL=f"redis://127.0.0.1:{port}/0", GATEWAY_QUOTA_REDIS_DOWN=policy)
    with valkey(port, tmp_path) as first, uvicorn_server(env, tmp_path / "gateway.log") as url:
        assert _post(url, key).status_code == 200  # counted in Redis (1 of 2)
        first.kill()
        first.wait()
        down = [_post(url, key) for _ in range(3)]
        if policy == "closed":
            assert {r.status_code for r in down} == {503}
            assert down[0].json()["error"]["code"] == "quota_unavailable"
        else:  # this process counts on its own: 2 more, then its local limit
            assert [r.status_code for r in down] == [200, 200, 429]
            assert down[2].json()["error"]["code"] == "rpm_limit"
        with valkey(port, tmp_path):  # Redis is back (empty): shared counting resumes by itself
            deadline = time.monotonic() + 10
            while (back := _post(url, key)).status_code != 200 and time.monotonic() < deadline:
                time.sleep(0.2)
            assert back.status_code == 200
            assert back.headers["x-ratelimit-limit-requests"] == "2"  # answered by the Redis script
