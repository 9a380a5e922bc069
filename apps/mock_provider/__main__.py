"""python -m apps.mock_provider [--host 127.0.0.1] [--port 9100] [--api-key KEY]"""

import argparse

import uvicorn

from apps.mock_provider.app import MockProvider


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m apps.mock_provider", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9100)
    parser.add_argument("--api-key", default=None, help="require this bearer key (default: accept any)")
    parser.add_argument("--chunks", type=int, default=8, help="content chunks per stream unless x-mock-chunks says")
    args = parser.parse_args()
    uvicorn.run(
        MockProvider(api_key=args.api_key, default_chunks=args.chunks),
        host=args.host,
        port=args.port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
        # Requests held open on purpose (mock-timeout) must not hold up a shutdown.
        timeout_graceful_shutdown=1,
    )


if __name__ == "__main__":
    main()
