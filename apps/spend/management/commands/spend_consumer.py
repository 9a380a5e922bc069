import logging
import os
import signal
import socket
import time
from typing import Any

import redis
from django.core.management.base import BaseCommand, CommandParser
from django.db import DatabaseError, close_old_connections

from apps.core.redis import redis_client
from apps.spend.services.ingest import spend_consume_once, spend_stream_group_ensure

logger = logging.getLogger("hydite.spend")

MAX_BACKOFF_S = 10.0


class Command(BaseCommand):
    help = "Write spend events from the Redis stream into the ledger until stopped (SIGTERM/SIGINT)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--batch", type=int, default=50, help="stream entries per transaction (an entry holds up to 500 events)"
        )
        parser.add_argument(
            "--claim-idle-ms",
            type=int,
            default=30_000,
            help="re-read entries a dead consumer left unacknowledged this long",
        )
        parser.add_argument(
            "--linger-ms",
            type=int,
            default=100,
            help="after a partial batch, wait this long so that the next transaction carries more rows",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        stopping = False

        def stop(signum: int, frame: object) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        client = redis_client()
        consumer = f"{socket.gethostname()}-{os.getpid()}"
        self.stdout.write(f"spend consumer {consumer} started")
        claim_every_s = options["claim_idle_ms"] / 2000
        claimed_at = float("-inf")
        group_ready, backoff_s = False, 0.0
        while not stopping:
            claim = time.monotonic() - claimed_at >= claim_every_s
            try:
                if not group_ready:
                    spend_stream_group_ensure(client=client)
                    group_ready = True
                written = spend_consume_once(
                    client=client,
                    consumer=consumer,
                    count=options["batch"],
                    claim_idle_ms=options["claim_idle_ms"],
                    claim=claim,
                )
            except (redis.RedisError, OSError, DatabaseError) as exc:
                # Redis or the database went away (or Redis came back empty, without our group): what was
                # read and not acknowledged stays in the stream, so waiting and starting over loses nothing.
                group_ready = group_ready and "NOGROUP" not in str(exc)
                backoff_s = min(MAX_BACKOFF_S, max(0.5, backoff_s * 2))
                logger.warning("spend consumer %s: %s; retrying in %.1f s", consumer, exc, backoff_s)
                close_old_connections()
                resume_at = time.monotonic() + backoff_s
                while not stopping and time.monotonic() < resume_at:  # a stop is not kept waiting
                    time.sleep(0.1)
                continue
            backoff_s = 0.0
            if claim:
                claimed_at = time.monotonic()
            if 0 < written < options["batch"] and not stopping:
                # A trickle: fewer, larger transactions cost the database far less than one per event.
                time.sleep(options["linger_ms"] / 1000)
        self.stdout.write(f"spend consumer {consumer} stopped")
