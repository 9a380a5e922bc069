"""A real Celery worker process, through the configured broker (Redis, or RabbitMQ in CI)."""

import os
import subprocess
import sys

import psycopg
import pytest

from apps.orgs.tasks import invitations_purge_expired_task
from tests.conftest import database_url_for_test_db
from tests.live import ROOT, stop

SCHEMAS = ("edge", "acme")


def _committed(sql: str, *params: object) -> None:
    # The worker is another process: it sees only committed rows, not the test's transaction.
    with psycopg.connect(database_url_for_test_db(), autocommit=True) as conn:
        conn.execute(sql, params)


@pytest.fixture
def expired_invitation_in_each_instance():  # type: ignore[no-untyped-def]
    for schema in SCHEMAS:
        _committed(
            f"WITH org AS (INSERT INTO {schema}.orgs_organization (name, slug, is_personal, created_at)"
            " VALUES ('Worker Test', 'worker-test', false, now()) RETURNING id)"
            f" INSERT INTO {schema}.orgs_invitation (organization_id, email, role, token_hash, created_at, expires_at)"
            " SELECT id, 'old@example.test', 'viewer', md5(random()::text), now() - interval '60 days',"
            " now() - interval '45 days' FROM org"
        )
    yield
    for schema in SCHEMAS:
        _committed(f"DELETE FROM {schema}.orgs_organization WHERE slug = 'worker-test'")


@pytest.mark.slow
@pytest.mark.django_db
def test_worker_purges_expired_invitations_in_every_instance(expired_invitation_in_each_instance, tmp_path):
    env = {**os.environ, "DATABASE_URL": database_url_for_test_db()}
    log_path = tmp_path / "worker.log"
    with log_path.open("w") as log:
        worker = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "hydite",
                "worker",
                "--pool",
                "solo",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "--loglevel",
                "INFO",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            result = invitations_purge_expired_task.delay()
            assert result.get(timeout=60) == len(SCHEMAS)
        finally:
            stop(worker)
    assert "invitations_purge_expired_task" in log_path.read_text()
