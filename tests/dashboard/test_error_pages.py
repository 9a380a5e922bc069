"""Error pages (400, 403, 404, 500, CSRF failure) render in the tenant's schema, under ASGI threads too.

Under uvicorn Django runs sync code in a thread per request; an error page rendered in another thread met
a connection on the public schema, where the navigation's tenant tables do not exist: a 403 became a 500.
"""

import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from django.db import DatabaseError

from apps.accounts.models import User
from apps.accounts.services import user_create
from apps.keys.services import key_generate
from apps.orgs.roles import Role
from apps.orgs.services.joining import member_add
from apps.orgs.services.organizations import organization_create, team_create
from tests.conftest import PASSWORD, client_for, live_server_env
from tests.live import ROOT, live_password_hash, logged_in_client, uvicorn_server

pytestmark = pytest.mark.django_db  # the test database is set up even when this module runs alone


@dataclass(frozen=True)
class Scene:
    org_slug: str
    admin_key_id: int
    developer_email: str
    developer_id: int


def _scene() -> Scene:
    def person(label: str) -> User:
        user = user_create(email=f"{label}-{uuid.uuid4().hex[:8]}@example.test", password=None, email_verified=True)
        User.objects.filter(pk=user.pk).update(password=live_password_hash(PASSWORD))
        return user

    admin, developer = person("admin"), person("dev")
    organization = organization_create(name=f"Errors {uuid.uuid4().hex[:6]}", owner=admin)
    team = team_create(organization=organization, name="Platform", actor=admin)
    member_add(organization=organization, team=team, user=developer, role=Role.DEVELOPER, actor=admin)
    key, _ = key_generate(organization=organization, team=team, user=admin, name="admin's", actor=admin)
    return Scene(organization.slug, key.pk, developer.email, developer.pk)


@pytest.fixture(scope="module")
def production_server_url(django_db_setup, tmp_path_factory) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """uvicorn with DEBUG off (manifest static files, so collected first), over plain HTTP."""
    static_root = tmp_path_factory.mktemp("static")
    env = live_server_env(
        DEBUG="0",
        STATIC_ROOT=str(static_root),
        ALLOWED_HOSTS="127.0.0.1,localhost,.localhost",
        SECURE_SSL_REDIRECT="0",
        SESSION_COOKIE_SECURE="0",
        CSRF_COOKIE_SECURE="0",
        SECURE_HSTS_SECONDS="0",
    )
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True
    )
    with uvicorn_server(env, tmp_path_factory.mktemp("production-server") / "uvicorn.log") as base_url:
        yield base_url


@pytest.fixture(params=["debug", "production"])
def server_url(request, live_server_url) -> str:  # type: ignore[no-untyped-def]
    return live_server_url if request.param == "debug" else request.getfixturevalue("production_server_url")


def _no_server_error(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, response.text[:2000]
    assert "relation" not in response.text and "ProgrammingError" not in response.text


def test_a_denied_post_is_a_403_page_not_a_500(committed, server_url):
    scene = committed(_scene)
    with logged_in_client(server_url, scene.developer_email, PASSWORD) as developer:
        token = {"X-CSRFToken": developer.cookies["csrftoken"]}
        for _ in range(3):  # each request a thread of its own: none may render on the public schema
            denied = developer.post(f"/o/{scene.org_slug}/keys/{scene.admin_key_id}/revoke/", headers=token)
            _no_server_error(denied, 403)
            assert "Not allowed" in denied.text


def test_not_found_pages_are_404s(committed, server_url):
    scene = committed(_scene)
    with logged_in_client(server_url, scene.developer_email, PASSWORD) as developer:
        _no_server_error(developer.get(f"/o/{scene.org_slug}/keys/999999999/"), 404)
        _no_server_error(developer.get("/o/no-such-organisation/"), 404)
        _no_server_error(developer.get(f"/o/{scene.org_slug}/no-such-page/"), 404)
        token = {"X-CSRFToken": developer.cookies["csrftoken"]}
        _no_server_error(developer.post(f"/o/{scene.org_slug}/keys/999999999/revoke/", headers=token), 404)


def test_a_csrf_failure_and_a_bad_request_are_pages(committed, server_url):
    scene = committed(_scene)
    with logged_in_client(server_url, scene.developer_email, PASSWORD) as developer:
        _no_server_error(developer.post(f"/o/{scene.org_slug}/keys/{scene.admin_key_id}/revoke/"), 403)
        token = {"X-CSRFToken": developer.cookies["csrftoken"]}
        too_many_fields = {f"f{index}": "x" for index in range(1100)}  # over DATA_UPLOAD_MAX_NUMBER_FIELDS: 400
        _no_server_error(
            developer.post(
                f"/o/{scene.org_slug}/keys/{scene.admin_key_id}/revoke/", data=too_many_fields, headers=token
            ),
            400,
        )


@pytest.mark.parametrize("debug", [False, True])
def test_error_pages_through_the_test_client(org_with_roles, settings, debug):
    settings.DEBUG = debug
    org, developer = org_with_roles["organization"], org_with_roles["users"]["developer"]
    admin = org_with_roles["users"]["org_admin"]
    key, _ = key_generate(organization=org, team=org_with_roles["platform"], user=admin, name="x", actor=admin)
    client = client_for(developer)
    denied = client.post(f"/o/{org.slug}/keys/{key.pk}/revoke/")
    assert denied.status_code == 403 and b"Not allowed" in denied.content
    assert client.get(f"/o/{org.slug}/keys/999999999/").status_code == 404


def test_a_failing_context_processor_does_not_turn_a_403_into_a_500(org_with_roles, monkeypatch):
    def broken(**kwargs: object) -> None:
        raise DatabaseError("relation does not exist")

    monkeypatch.setattr("apps.notifications.context_processors.budget_alerts_open", broken)
    org, developer = org_with_roles["organization"], org_with_roles["users"]["developer"]
    admin = org_with_roles["users"]["org_admin"]
    key, _ = key_generate(organization=org, team=org_with_roles["platform"], user=admin, name="x", actor=admin)
    denied = client_for(developer).post(f"/o/{org.slug}/keys/{key.pk}/revoke/")
    assert denied.status_code == 403 and b"Not allowed" in denied.content


def test_an_unexpected_error_is_the_500_page(org_with_roles, monkeypatch):
    def broken(**kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr("apps.keys.views.key_list_with_spend", broken)
    org, admin = org_with_roles["organization"], org_with_roles["users"]["org_admin"]
    client = client_for(admin)
    client.raise_request_exception = False
    failed = client.get(f"/o/{org.slug}/keys/")
    assert failed.status_code == 500 and b"Something went wrong" in failed.content and b"boom" not in failed.content
