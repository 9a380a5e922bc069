"""The OpenAI surface beyond /v1's three routes: root paths without /v1, one model, Azure's deployment-style
paths, the key in each client's own header, and JSON (never a page) for any other path the gateway owns."""

import httpx
import openai
import pytest

pytestmark = pytest.mark.django_db

HELLO = [{"role": "user", "content": "hello"}]


@pytest.fixture
def closing():  # type: ignore[no-untyped-def]
    """Closes each test's SDK clients after it (an unclosed socket warns, and warnings fail the suite)."""
    clients: list[openai.OpenAI] = []
    yield clients.append
    for client in clients:
        client.close()


def test_a_client_with_a_root_base_url_is_served(live_server_url, world, closing):
    client = openai.OpenAI(api_key=world.key, base_url=live_server_url, max_retries=0, timeout=20)
    closing(client)
    reply = client.chat.completions.create(model="gpt-4o-mini", messages=HELLO)
    assert reply.choices[0].message.content.startswith("Mock reply to: hello")
    assert client.embeddings.create(model="text-embedding-3-small", input="vector me").data[0].embedding
    assert "gpt-4o-mini" in {model.id for model in client.models.list()}
    streamed = client.chat.completions.create(model="gpt-4o-mini", messages=HELLO, stream=True)
    assert "".join(chunk.choices[0].delta.content or "" for chunk in streamed if chunk.choices)


def test_one_model_is_retrieved_and_one_the_key_cannot_call_is_a_404(live_server_url, world, closing):
    client = openai.OpenAI(api_key=world.key, base_url=f"{live_server_url}/v1", max_retries=0, timeout=20)
    closing(client)
    assert client.models.retrieve("gpt-4o-mini").id == "gpt-4o-mini"
    for hidden in (world.other_channel_alias, "no-such-model", "openai/with/slashes"):
        with pytest.raises(openai.NotFoundError) as caught:
            client.models.retrieve(hidden)
        assert caught.value.body["code"] == "model_not_found"  # type: ignore[index]
    refused = httpx.get(f"{live_server_url}/v1/models/gpt-4o-mini", timeout=10)
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "invalid_api_key"


def test_the_azure_client_calls_a_deployment_path_with_its_api_key_header(live_server_url, world, closing):
    client = openai.AzureOpenAI(
        api_key=world.key, azure_endpoint=live_server_url, api_version="2024-10-21", max_retries=0, timeout=20
    )
    closing(client)
    raw = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=HELLO)
    assert raw.parse().choices[0].message.content.startswith("Mock reply to: hello")
    assert raw.headers["x-gateway-model-resolved"] == "openai_compatible/mock-gpt-4o-mini"
    embedding = client.embeddings.create(model="text-embedding-3-small", input="vector me")
    assert len(embedding.data[0].embedding) > 0


def test_the_deployment_in_an_azure_path_wins_over_the_bodys_model(live_server_url, world):
    url = f"{live_server_url}/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21"
    reply = httpx.post(url, json={"messages": HELLO}, headers={"api-key": world.key}, timeout=20)
    assert reply.status_code == 200 and reply.json()["choices"][0]["message"]["content"]
    hidden = f"{live_server_url}/openai/deployments/{world.other_channel_alias}/chat/completions"
    body = {"model": "gpt-4o-mini", "messages": HELLO}
    refused = httpx.post(hidden, json=body, headers={"api-key": world.key}, timeout=20)
    assert refused.status_code == 404 and refused.json()["error"]["code"] == "model_not_found"


@pytest.mark.parametrize("header", ["x-api-key", "api-key"])
def test_the_key_may_come_in_anthropics_or_azures_header(live_server_url, world, header):
    reply = httpx.post(
        f"{live_server_url}/v1/chat/completions",
        json={"model": "gpt-4o-mini", "messages": HELLO},
        headers={header: world.key},
        timeout=20,
    )
    assert reply.status_code == 200
    wrong = httpx.post(
        f"{live_server_url}/v1/chat/completions",
        json={"model": "gpt-4o-mini", "messages": HELLO},
        headers={header: "sk-hydite-" + "0" * 32},
        timeout=20,
    )
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "invalid_api_key"


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("POST", "/v1/nothing/here", 404),
        ("GET", "/v1", 404),
        ("POST", "/openai/deployments/gpt-4o-mini/images/edits", 404),
        ("POST", "/openai/deployments//chat/completions", 404),
        ("GET", "/openai/anything", 404),
        ("GET", "/chat/completions", 405),
        ("POST", "/models", 405),
        ("DELETE", "/v1/models/gpt-4o-mini", 405),
    ],
)
def test_other_paths_the_gateway_owns_answer_json(live_server_url, world, method, path, status):
    reply = httpx.request(method, f"{live_server_url}{path}", headers={"authorization": f"Bearer {world.key}"})
    assert reply.status_code == status and reply.headers["content-type"] == "application/json"
    assert reply.json()["error"]["code"] in {"unknown_url", "method_not_allowed"}


def test_the_dashboards_own_paths_are_untouched(live_server_url):
    assert httpx.get(f"{live_server_url}/healthz", timeout=10).status_code == 200
    page = httpx.get(f"{live_server_url}/accounts/login/", timeout=10)
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
