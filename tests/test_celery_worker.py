"""A real Celery worker process, through the configured broker (Redis, or RabbitMQ in CI)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from apps.orgs.tasks import invitations_purge_expired_task
from tests.conftest import database_url_for_test_db

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
@pytest.mark.django_db
def test_worker_runs_a_task_across_all_instances(tmp_path):
    env = {**os.environ, "DATABASE_URL": database_url_for_test_db()}
    log = (tmp_path / "worker.log").open("w")
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
        purged = result.get(timeout=60)
        assert isinstance(purged, int) and purged >= 0
        assert result.successful()
    finally:
        worker.terminate()
        worker.wait(30)
        log.close()
    assert "invitations_purge_expired_task" in (tmp_path / "worker.log").read_text()
