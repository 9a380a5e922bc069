"""Fixtures of the gateway's live tests: the mock provider's root and its control (faults, counts)."""

import pytest

from tests.gateway.router.routing_world import MockControl


@pytest.fixture(scope="module")
def mock_root(mock_provider_url) -> str:  # type: ignore[no-untyped-def]
    return mock_provider_url.removesuffix("/v1")


@pytest.fixture(scope="module")
def mock(mock_root) -> MockControl:  # type: ignore[no-untyped-def]
    return MockControl(mock_root)
