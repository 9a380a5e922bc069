"""Embeddings on the mock provider: every input form OpenAI accepts, base64 float32 answers, `dimensions`."""

import base64
import struct

import httpx
import pytest

from tests.mock_provider.conftest import AUTH


def _floats(encoded: str) -> list[float]:
    raw = base64.b64decode(encoded)
    return list(struct.unpack(f"<{len(raw) // 4}f", raw))


def test_base64_decodes_to_the_float_vector(client, mock_url):
    floats = client.embeddings.create(model="mock-embedding-small", input=["a b", "c"], dimensions=24)
    body = {"model": "mock-embedding-small", "input": ["a b", "c"], "dimensions": 24, "encoding_format": "base64"}
    raw = httpx.post(f"{mock_url}/embeddings", headers=AUTH, json=body).json()
    assert all(isinstance(item["embedding"], str) for item in raw["data"])
    for item, expected in zip(raw["data"], floats.data, strict=True):
        decoded = _floats(item["embedding"])
        assert len(decoded) == 24 and decoded == pytest.approx(expected.embedding, abs=1e-6)
    assert raw["usage"] == floats.usage.model_dump(exclude_none=True)
    # the SDK asks base64 when no format is given and decodes it: the same floats
    sdk = client.embeddings.create(model="mock-embedding-small", input="a b", dimensions=24, encoding_format="base64")
    assert _floats(sdk.data[0].embedding) == pytest.approx(floats.data[0].embedding, abs=1e-6)


def test_token_arrays_are_inputs_too(client):
    one = client.embeddings.create(model="m", input=[101, 2023, 7], dimensions=12)
    assert len(one.data) == 1 and len(one.data[0].embedding) == 12 and one.usage.prompt_tokens == 3
    many = client.embeddings.create(model="m", input=[[101, 2023, 7], [5]], dimensions=12)
    assert [len(item.embedding) for item in many.data] == [12, 12] and many.usage.prompt_tokens == 4
    assert many.data[0].embedding == one.data[0].embedding  # same tokens, same vector
    assert many.data[1].embedding != one.data[0].embedding
    assert len(client.embeddings.create(model="m", input="x").data[0].embedding) == 8  # the default length


@pytest.mark.parametrize(
    "body",
    [
        {"model": "m"},
        {"model": "m", "input": []},
        {"model": "m", "input": 5},
        {"model": "m", "input": ""},
        {"model": "m", "input": [""]},
        {"model": "m", "input": [[]]},
        {"model": "m", "input": ["a", [1, 2]]},
        {"model": "m", "input": [1, "a"]},
        {"model": "m", "input": [-1, 2]},
        {"model": "m", "input": [[1, True]]},
        {"model": "m", "input": [1.5]},
        {"model": "m", "input": [{"text": "x"}]},
        {"model": "m", "input": "x", "encoding_format": "hex"},
        {"model": "m", "input": "x", "dimensions": 0},
        {"model": "m", "input": "x", "dimensions": "8"},
        {"model": "m", "input": "x", "dimensions": 10**9},
    ],
)
def test_bad_inputs_are_400s_in_openais_shape(mock_url, body):
    refused = httpx.post(f"{mock_url}/embeddings", headers=AUTH, json=body)
    assert refused.status_code == 400, refused.text
    error = refused.json()["error"]
    assert error["type"] == "invalid_request_error" and error["message"] and error["param"]
