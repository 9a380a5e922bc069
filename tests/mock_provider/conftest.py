"""The mock provider's tests talk to it over real HTTP (tests/conftest.py starts it)."""

import uuid
from collections.abc import Iterator

import httpx
import openai
import pytest

from tests.conftest import UPSTREAM_API_KEY

AUTH = {"Authorization": f"Bearer {UPSTREAM_API_KEY}"}
HELLO = {"model": "mock-gpt-4o-mini", "messages": [{"role": "user", "content": "hello there"}]}


@pytest.fixture
def mock_url(mock_provider_url) -> str:  # type: ignore[no-untyped-def]
    return mock_provider_url


@pytest.fixture
def client(mock_url) -> Iterator[openai.OpenAI]:  # type: ignore[no-untyped-def]
    with openai.OpenAI(api_key=UPSTREAM_API_KEY, base_url=mock_url, max_retries=0, timeout=10) as client:
        yield client  # closed after: its pooled connection is not left to the garbage collector


@pytest.fixture
def mock_root(mock_url) -> str:  # type: ignore[no-untyped-def]
    """The mock's origin, where /mock/<target>/… and the control API live."""
    return mock_url.removesuffix("/v1")


@pytest.fixture
def target(mock_root) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """A virtual provider of its own for the test (the mock process is shared); its fault is cleared after."""
    name = f"t-{uuid.uuid4().hex[:12]}"
    yield name
    httpx.delete(f"{mock_root}/mock/faults/{name}").raise_for_status()


def fault_put(mock_root: str, target: str, **fields: object) -> dict:
    response = httpx.put(f"{mock_root}/mock/faults/{target}", json=fields)
    assert response.status_code == 200, response.text
    return response.json()[target]


def target_stats(mock_root: str, target: str) -> dict:
    return httpx.get(f"{mock_root}/mock/stats").json().get(target, {"requests": 0, "failed": 0})
