"""Step 1, parse: which route a request is for, and its JSON body."""

from typing import Any

import orjson

from apps.gateway.asgi_io import Scope
from apps.gateway.errors import InvalidRequest, MethodNotAllowed, RouteNotFound

MODELS_PATH = "/v1/models"
PROXIED_PATHS = frozenset({"/v1/chat/completions", "/v1/completions", "/v1/embeddings"})
STREAMABLE_PATHS = frozenset({"/chat/completions", "/completions"})


def parse_route(scope: Scope) -> str:
    """The route's path ("/v1/models" or a proxied one); 404 or 405 in OpenAI's shape for any other."""
    path: str = scope["path"].rstrip("/")
    method: str = scope["method"]
    if path == MODELS_PATH:
        if method != "GET":
            raise MethodNotAllowed(f"Use GET for {path}.")
        return path
    if path not in PROXIED_PATHS:
        raise RouteNotFound(f"Invalid URL ({method} {scope['path']}).")
    if method != "POST":
        raise MethodNotAllowed(f"Use POST for {path}.")
    return path


def parse_body(raw: bytes) -> dict[str, Any]:
    """A JSON object naming a model; its other parameters are checked when the request is resolved."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise InvalidRequest("We could not parse the JSON body of your request.") from None
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    model = body.get("model")
    if not isinstance(model, str) or not model:
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
