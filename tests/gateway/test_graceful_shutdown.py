"""SIGTERM: a gateway process stops taking requests but lets in-flight streams finish (up to a deadline)."""

import os
import signal
import subprocess
import sys
import threading
import time
import uuid

import httpx
import pytest

from tests.conftest import database_url_for_test_db
from tests.live import ROOT, free_port, wait_for_http


@pytest.mark.slow
@pytest.mark.django_db
def test_in_flight_stream_finishes_after_sigterm(world, tmp_path):
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url_for_test_db(),
        "DEBUG": "1",
        "CACHE_KEY_PREFIX": f"drain-{uuid.uuid4().hex[:8]}",
    }
    log_path = tmp_path / "uvicorn.log"
    with log_path.open("w") as log:
        server = subprocess.Popen(  # noqa: S603
            [
                sys.executable,
                "-m",
                "uvicorn",
                "hydite.asgi:application",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--timeout-graceful-shutdown",
                "10",
                "--no-proxy-headers",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for_http(f"http://127.0.0.1:{port}/healthz", server, log_path)
        first_chunk, received = threading.Event(), []

        def consume() -> None:
            with httpx.stream(
                "POST",
                f"http://127.0.0.1:{port}/v1/chat/completions",
                timeout=20,
                headers={"Authorization": f"Bearer {world.key}"},
                json={"model": "drip", "stream": True, "messages": [{"role": "user", "content": "drip"}]},
            ) as response:
                for chunk in response.iter_bytes():
                    received.append(chunk)
                    first_chunk.set()

        reader = threading.Thread(target=consume)
        reader.start()
        assert first_chunk.wait(10)
        started = time.monotonic()
        server.send_signal(signal.SIGTERM)
        reader.join(20)
        body = b"".join(received).decode()
        assert body.count('"chat.completion.chunk"') >= 8 and body.endswith("data: [DONE]\n\n")
        # uvicorn re-raises the signal once it has drained, so the exit status is SIGTERM's.
        assert server.wait(15) in {0, -signal.SIGTERM} and time.monotonic() - started < 12
        assert "Application shutdown complete" in log_path.read_text()
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
