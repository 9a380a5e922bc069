import os
import signal
import socket
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from apps.core.redis import redis_client
from apps.spend.services import spend_consume_once, spend_stream_group_ensure


class Command(BaseCommand):
    help = "Write spend events from the Redis stream into the ledger until stopped (SIGTERM/SIGINT)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch", type=int, default=500)
        parser.add_argument(
            "--claim-idle-ms",
            type=int,
            default=30_000,
            help="re-read entries a dead consumer left unacknowledged this long",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        stopping = False

        def stop(signum: int, frame: object) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        client = redis_client()
        spend_stream_group_ensure(client=client)
        consumer = f"{socket.gethostname()}-{os.getpid()}"
        self.stdout.write(f"spend consumer {consumer} started")
        while not stopping:
            spend_consume_once(
                client=client, consumer=consumer, count=options["batch"], claim_idle_ms=options["claim_idle_ms"]
            )
        self.stdout.write(f"spend consumer {consumer} stopped")
