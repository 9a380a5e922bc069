"""The spend consumer (apps.spend.services.ingest): good events ledgered, bad ones dead-lettered, nothing lost or
doubled when it is killed mid-batch or Redis restarts under it."""

import os
import signal
import subprocess
import sys
import time
import uuid

import orjson
import psycopg
import pytest
import redis as redis_lib
from django.conf import settings

from apps.core.redis import redis_client
from apps.spend.models import SpendLog
from apps.spend.services.ingest import spend_stream_group_ensure
from apps.spend.stream import SPEND_DEAD_LETTERS, SPEND_STREAM, spend_stream_entry
from tests.conftest import database_url_for_test_db
from tests.live import ROOT, free_port, stop, valkey
from tests.world import ledger_rows_drained

pytestmark = pytest.mark.django_db


def test_consumer_writes_the_good_events_of_an_entry_and_dead_letters_the_rest(committed, world):
    marker = f"dead-{uuid.uuid4().hex[:8]}"
    good = {"request_id": f"{marker}-ok", "created_at_ms": int(time.time() * 1000), "schema": "edge"}
    good |= {"organization_id": world.organization.pk, "model_alias": marker, "status_code": 200}
    unknown_instance = {**good, "request_id": f"{marker}-elsewhere", "schema": "no_such_instance"}
    # each would fail the whole INSERT of its batch if it reached the database
    unfit = [
        {**good, "request_id": f"{marker}-negative", "prompt_tokens": -1},
        {**good, "request_id": f"{marker}-long", "model_alias": "m" * 201},
        {**good, "request_id": f"{marker}-text", "status_code": "200"},
        {**good, "request_id": f"{marker}-flag", "stream": "yes"},
        {key: value for key, value in good.items() if key != "organization_id"} | {"request_id": f"{marker}-no-org"},
        {**good, "request_id": f"{marker}-when", "created_at_ms": -5},
    ]
    refused_by_the_database = {**good, "request_id": f"{marker}-nul", "error_code": "a\u0000b"}  # no check foresees
    bad = [b"{not json", b"[1, 2]", orjson.dumps(unknown_instance), *(orjson.dumps(event) for event in unfit)]
    bad.append(orjson.dumps(refused_by_the_database))
    client = redis_client()
    spend_stream_group_ensure(client=client)
    entry_id = client.xadd(SPEND_STREAM, dict([spend_stream_entry([orjson.dumps(good), *bad])]))

    rows = ledger_rows_drained(committed, {good["request_id"]})

    assert set(rows) == {good["request_id"]}
    dead = {fields[b"e"] for _, fields in client.xrevrange(SPEND_DEAD_LETTERS, count=100)}
    assert set(bad) <= dead
    assert not committed(
        lambda: SpendLog.objects.filter(request_id__startswith=marker).exclude(request_id=good["request_id"]).exists()
    )
    still_pending = client.xpending_range(SPEND_STREAM, "spend-writers", min=entry_id, max=entry_id, count=1)
    assert still_pending == [], "the entry is acknowledged once its good events are committed"
    assert client.xrange(SPEND_STREAM, min=entry_id, max=entry_id) == [], "and deleted: the stream does not grow"


@pytest.mark.slow
def test_consumer_killed_mid_batch_loses_nothing_and_doubles_nothing(committed, world, tmp_path):
    total, marker = 4000, f"sigkill-{uuid.uuid4().hex[:8]}"
    client = redis_lib.Redis.from_url(settings.REDIS_URL)
    spend_stream_group_ensure(client=client)
    pipe = client.pipeline(transaction=False)
    now_ms = int(time.time() * 1000)
    events = [
        orjson.dumps(
            {
                "request_id": f"{marker}-{n}",
                "created_at_ms": now_ms,
                "schema": "edge",
                "organization_id": world.organization.pk,
                "model_alias": marker,
                "status_code": 200,
            }
        )
        for n in range(total)
    ]
    for start in range(0, total, 10):  # entries of 10 events, as the gateway batches them
        pipe.xadd(SPEND_STREAM, dict([spend_stream_entry(events[start : start + 10])]))
    pipe.execute()

    def rows() -> int:
        with psycopg.connect(database_url_for_test_db()) as conn:
            return conn.execute(
                "SELECT count(*) FROM edge.spend_spendlog WHERE model_alias = %s", (marker,)
            ).fetchone()[0]

    env = {**os.environ, "DATABASE_URL": database_url_for_test_db()}
    command = [sys.executable, "manage.py", "spend_consumer", "--batch", "2", "--claim-idle-ms", "300"]
    first = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)  # noqa: S603
    deadline = time.monotonic() + 60
    while rows() == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    first.wait()
    at_kill = rows()
    assert 0 < at_kill < total, "the consumer must die mid-way for this test to mean anything"

    second = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)  # noqa: S603
    try:
        deadline = time.monotonic() + 90
        while rows() < total and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)  # anything written twice would show up now
        assert rows() == total
    finally:
        stop(second)


def test_consumer_rides_out_a_redis_restart(committed, world, tmp_path):
    """Redis dies under a running consumer and comes back empty (no group): the consumer waits, recreates
    its group and writes what is sent afterwards; it never exits."""
    marker = f"restart-{uuid.uuid4().hex[:8]}"
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"

    def send(first: int, count: int) -> None:
        client = redis_lib.Redis.from_url(url)
        events = [
            orjson.dumps(
                {
                    "request_id": f"{marker}-{n}",
                    "created_at_ms": int(time.time() * 1000),
                    "schema": "edge",
                    "organization_id": world.organization.pk,
                    "model_alias": marker,
                    "status_code": 200,
                }
            )
            for n in range(first, first + count)
        ]
        client.xadd(SPEND_STREAM, dict([spend_stream_entry(events)]))

    def rows_reach(count: int, timeout_s: float) -> int:
        deadline = time.monotonic() + timeout_s
        while True:
            with psycopg.connect(database_url_for_test_db()) as conn:
                found = conn.execute(
                    "SELECT count(*) FROM edge.spend_spendlog WHERE model_alias = %s", (marker,)
                ).fetchone()[0]
            if found >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.1)

    env = {**os.environ, "DATABASE_URL": database_url_for_test_db(), "REDIS_URL": url}
    log_path = tmp_path / "consumer.log"
    with valkey(port, tmp_path) as first, log_path.open("w") as log:
        consumer = subprocess.Popen(
            [sys.executable, "manage.py", "spend_consumer"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            send(0, 5)
            assert rows_reach(5, 30) == 5
            first.kill()
            first.wait()
            time.sleep(1.5)  # the consumer meets the outage
            assert consumer.poll() is None, log_path.read_text()
            with valkey(port, tmp_path):
                send(5, 5)
                assert rows_reach(10, 30) == 10, log_path.read_text()
                assert consumer.poll() is None
        finally:
            stop(consumer)
    assert "retrying in" in log_path.read_text()
