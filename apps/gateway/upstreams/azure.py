"""Azure OpenAI: deployment name in the path, `api-version` in the query, the key in `api-key`.

Bodies and streams are OpenAI's (plus Azure's content_filter_results), so they pass through.
"""

from typing import Any
from urllib.parse import quote

import orjson

from apps.gateway.upstreams.openai_compatible import UpstreamRequest, error_from_upstream

DEFAULT_API_VERSION = "2024-10-21"

__all__ = ["build_request", "error_from_upstream"]


def build_request(
    *, deployment: dict[str, Any], path: str, body: dict[str, Any], secret: str | None
) -> UpstreamRequest:
    version = deployment.get("api_version") or DEFAULT_API_VERSION
    name = quote(deployment["upstream_model"], safe="")
    url = f"{deployment['api_base']}/openai/deployments/{name}{path}?api-version={quote(version, safe='')}"
    headers = {"Content-Type": "application/json"}
    if secret:
        headers["api-key"] = secret
    upstream_body = {key: value for key, value in body.items() if key != "model"}
    return UpstreamRequest(url=url, headers=headers, body=orjson.dumps(upstream_body))
