"""Provider adapters: one module per wire format, one interface; they import no Django.

Each module has `build_request(deployment=, path=, body=, secret=) -> UpstreamRequest` and
`error_from_upstream(status, payload) -> dict` (OpenAI's error object). A provider with its own
wire format also has `translate_response(payload) -> bytes`, a `StreamTranslator` and
`STATUS_FOR_CLIENT`; the gateway uses them when present.
"""

from types import ModuleType

from apps.gateway.upstreams import anthropic, azure, gemini, openai_compatible

ADAPTERS: dict[str, ModuleType] = {
    "openai": openai_compatible,
    "openai_compatible": openai_compatible,
    "deepseek": openai_compatible,
    "qwen": openai_compatible,
    "azure": azure,
    "anthropic": anthropic,
    "gemini": gemini,
}


class ProviderNotSupported(Exception):
    pass


def adapter_for(provider: str) -> ModuleType:
    try:
        return ADAPTERS[provider]
    except KeyError:
        raise ProviderNotSupported(f"The gateway has no adapter for provider {provider!r} yet.") from None
