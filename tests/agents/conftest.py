"""The agents call the gateway, which calls the mock provider's virtual providers (see tests/gateway)."""

from tests.gateway.conftest import mock, mock_root

__all__ = ["mock", "mock_root"]
