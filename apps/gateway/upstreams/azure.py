"""Azure OpenAI: deployment name in the path, `api-version` in the query, the key in `api-key`.

Bodies and streams are OpenAI's (plus Azure's content_filter_results), so they pass through.
"""

from typing import Any
from urllib.parse import quote

import orjson

from apps.channels.snapshots import DeploymentSnapshot
from apps.gateway.upstreams.base import UpstreamRequest, WireFormat
from apps.gateway.upstreams.openai_compatible import error_from_upstream

DEFAULT_API_VERSION = "2024-10-21"
# Azure OpenAI knows max_completion_tokens from this API version on; older ones refuse it.
COMPLETION_TOKENS_SINCE = "2024-09-01"


def api_version(deployment: DeploymentSnapshot) -> str:
    return deployment["api_version"] or DEFAULT_API_VERSION


def build_request(
    *, deployment: DeploymentSnapshot, path: str, body: dict[str, Any], secret: str | None
) -> UpstreamRequest:
    version = api_version(deployment)
    name = quote(deployment["upstream_model"], safe="")
    url = f"{deployment['api_base']}/openai/deployments/{name}{path}?api-version={quote(version, safe='')}"
    headers = {"Content-Type": "application/json"}
    if secret:
        headers["api-key"] = secret
    upstream_body = {key: value for key, value in body.items() if key != "model"}
    return UpstreamRequest(url=url, headers=headers, body=orjson.dumps(upstream_body))


ADAPTER = WireFormat(build=build_request, error=error_from_upstream)
