"""Limits on attempts count an IPv6 client by its /64 (one machine's allowance), an IPv4 client by its address."""

import pytest

from apps.core.client_ip import client_network


@pytest.mark.parametrize(
    ("address", "client"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("::ffff:203.0.113.7", "203.0.113.7"),  # the same IPv4 client seen by a dual-stack socket
        ("2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::/64"),
        ("2001:DB8:1:2::1", "2001:db8:1:2::/64"),
        ("unknown", "unknown"),
    ],
)
def test_client_network(address: str, client: str) -> None:
    assert client_network(address) == client
