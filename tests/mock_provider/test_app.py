"""The mock provider's routing."""

import httpx

from tests.conftest import UPSTREAM_API_KEY


def test_unknown_path_and_wrong_method(mock_url):
    headers = {"Authorization": f"Bearer {UPSTREAM_API_KEY}"}
    assert httpx.get(f"{mock_url}/nope", headers=headers).status_code == 404
    assert httpx.get(f"{mock_url}/chat/completions", headers=headers).status_code == 405
