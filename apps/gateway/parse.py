"""Step 1, parse: which route a request is for, and its JSON body."""

from dataclasses import dataclass
from typing import Any

import orjson

from apps.gateway.asgi_io import Scope
from apps.gateway.dialects.anthropic import ANTHROPIC_MESSAGES
from apps.gateway.dialects.base import Dialect
from apps.gateway.errors import InvalidRequest, MethodNotAllowed, RouteNotFound

MODELS_PATH = "/v1/models"
MESSAGES_PATH = "/v1/messages"
COUNT_TOKENS_PATH = "/v1/messages/count_tokens"
PROXIED_PATHS = frozenset({"/v1/chat/completions", "/v1/completions", "/v1/embeddings"})
STREAMABLE_PATHS = frozenset({"/chat/completions", "/completions"})
# Served without the /v1 prefix too (as LiteLLM serves them: clients configured with a root base URL).
ROOT_PATHS = frozenset({"/chat/completions", "/completions", "/embeddings", "/models", "/responses", "/messages"})
ROOT_PREFIXES = ("/v1/", "/openai/", "/models/", "/responses/", "/messages/")
MESSAGES_PREFIXES = (MESSAGES_PATH + "/", "/messages/")
AZURE_PREFIX = "/openai/deployments/"
AZURE_OPERATIONS = frozenset({"chat/completions", "completions", "embeddings"})


@dataclass(frozen=True, slots=True)
class Endpoint:
    path: str  # "/v1/…": what the request is for, whichever form of URL it came by
    model: str | None = None  # named by the URL (Azure's deployment, /v1/models/{id}), not the body
    dialect: Dialect | None = None  # the client's API, when it is not OpenAI's


def is_gateway_path(path: str) -> bool:
    """Whether the gateway answers `path` (in the dialects' envelopes) rather than the platform."""
    return path == "/v1" or path.startswith(ROOT_PREFIXES) or path.rstrip("/") in ROOT_PATHS


def path_dialect(path: str) -> Dialect | None:
    """The dialect of the API a path belongs to, served or not: /v1/messages/count_tokens or a GET of
    /v1/messages is refused in the envelope its client reads."""
    if path.startswith(MESSAGES_PREFIXES) or path.rstrip("/") in {MESSAGES_PATH, "/messages"}:
        return ANTHROPIC_MESSAGES
    return None


def parse_route(scope: Scope) -> Endpoint:
    """The route (the model list, one model, or a proxied path); 404 or 405 for any other (in OpenAI's shape,
    unless `path_dialect` names another)."""
    raw: str = scope["path"]
    method: str = scope["method"]
    route = _FIXED_ENDPOINTS.get(raw) or _endpoint_of(raw.rstrip("/") or "/")
    if route is None:
        raise RouteNotFound(f"Invalid URL ({method} {raw}).")
    if route.path == MODELS_PATH:
        if method != "GET":
            raise MethodNotAllowed(f"Use GET for {raw}.")
    elif method != "POST":
        raise MethodNotAllowed(f"Use POST for {raw}.")
    return route


def _endpoint_of(path: str) -> Endpoint | None:
    if path in PROXIED_PATHS or path == MODELS_PATH:
        return Endpoint(path)
    if path in (MESSAGES_PATH, COUNT_TOKENS_PATH):
        return Endpoint(path, dialect=ANTHROPIC_MESSAGES)
    if path.startswith(("/messages/", "/responses/")):
        return _endpoint_of("/v1" + path)
    if path in ROOT_PATHS:
        return _endpoint_of("/v1" + path)
    for models in (MODELS_PATH + "/", "/models/"):
        if path.startswith(models) and len(path) > len(models):
            return Endpoint(MODELS_PATH, path.removeprefix(models))
    if path.startswith(AZURE_PREFIX):  # /openai/deployments/{deployment}/chat/completions?api-version=…
        deployment, _, operation = path.removeprefix(AZURE_PREFIX).partition("/")
        if deployment and operation in AZURE_OPERATIONS:
            return Endpoint("/v1/" + operation, deployment)
    return None


_FIXED_ENDPOINTS = {
    path: endpoint
    for path in (*PROXIED_PATHS, MODELS_PATH, MESSAGES_PATH, COUNT_TOKENS_PATH, *ROOT_PATHS)
    if (endpoint := _endpoint_of(path)) is not None
}


def parse_body(raw: bytes, *, model: str | None = None) -> dict[str, Any]:
    """A JSON object naming a model (`model`, when the URL names it, wins over the body's); its other
    parameters are checked when the request is resolved."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise InvalidRequest("We could not parse the JSON body of your request.") from None
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    if model is not None:
        body["model"] = model
    elif not isinstance(body.get("model"), str) or not body["model"]:
        raise InvalidRequest("You must provide a model parameter.", param="model")
    return body


def with_stream_usage(body: dict[str, Any], path: str) -> tuple[dict[str, Any], bool]:
    """The body to forward, and whether the client wants the usage event of a stream.

    The provider is always asked for usage on streams, so that every stream is metered.
    """
    if not body.get("stream") or path not in STREAMABLE_PATHS:
        return body, True
    options = body.get("stream_options") or {}
    if options.get("include_usage"):
        return body, True
    return {**body, "stream_options": {**options, "include_usage": True}}, False
