"""OpenAI and every OpenAI-compatible endpoint (DeepSeek, Qwen compatible mode, vLLM, Ollama, the mock, …).

Imports no Django: it turns a deployment and a request body into an upstream request.
"""

from typing import Any

import orjson

from apps.channels.snapshots import DeploymentSnapshot
from apps.gateway.upstreams.base import UpstreamRequest, WireFormat


def build_request(
    *, deployment: DeploymentSnapshot, path: str, body: dict[str, Any], secret: str | None
) -> UpstreamRequest:
    """`path` is the OpenAI path after /v1, e.g. "/chat/completions"."""
    headers = {"Content-Type": "application/json"}
    if secret:
        headers["Authorization"] = f"Bearer {secret}"
    upstream_body = {**body, "model": deployment["upstream_model"]}
    return UpstreamRequest(url=deployment["api_base"] + path, headers=headers, body=orjson.dumps(upstream_body))


def error_from_upstream(status: int, payload: bytes) -> dict[str, Any]:
    """The upstream's error in OpenAI's envelope, keeping its message, type and code when it sent them."""
    try:
        parsed = orjson.loads(payload)
    except orjson.JSONDecodeError:
        parsed = None
    error = parsed.get("error") if isinstance(parsed, dict) else None
    if isinstance(error, dict) and error.get("message"):
        return {
            "message": str(error["message"]),
            "type": str(error.get("type") or _default_type(status)),
            "param": error.get("param"),
            "code": error.get("code"),
        }
    text = payload[:500].decode("utf-8", "replace").strip() or f"HTTP {status}"
    return {
        "message": f"The model provider answered {status}: {text}",
        "type": _default_type(status),
        "param": None,
        "code": None,
    }


def _default_type(status: int) -> str:
    if status == 429:
        return "rate_limit_error"
    return "server_error" if status >= 500 else "invalid_request_error"


ADAPTER = WireFormat(build=build_request, error=error_from_upstream)
