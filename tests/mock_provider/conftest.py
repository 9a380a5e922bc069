"""The mock provider's tests talk to it over real HTTP (tests/conftest.py starts it)."""

import openai
import pytest

from tests.conftest import UPSTREAM_API_KEY


@pytest.fixture
def mock_url(mock_provider_url) -> str:  # type: ignore[no-untyped-def]
    return mock_provider_url


@pytest.fixture
def client(mock_url) -> openai.OpenAI:  # type: ignore[no-untyped-def]
    return openai.OpenAI(api_key=UPSTREAM_API_KEY, base_url=mock_url, max_retries=0, timeout=10)
