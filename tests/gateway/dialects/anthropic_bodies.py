"""Anthropic Messages request bodies for the dialect tests, shaped like what Claude Code sends."""

from typing import Any

PNG = "iVBORw0KGgo="
PDF = "JVBERi0xLjQK"
WEATHER_SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}


def rich_body() -> dict[str, Any]:
    """Every block type and parameter the dialect maps, in one conversation."""
    return {
        "model": "claude-sonnet-4-5",
        "max_tokens": 8192,
        "system": [
            {"type": "text", "text": "You are a coding agent.", "cache_control": {"type": "ephemeral"}},
            {"type": "text", "text": "Be brief."},
        ],
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is in this picture, and the weather in Paris?"},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
                    {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
                    {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": PDF}},
                    {
                        "type": "document",
                        "title": "Notes",
                        "source": {"type": "text", "media_type": "text/plain", "data": "note body"},
                    },
                ],
            },
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "Need the weather tool.", "signature": "c2lnbmF0dXJl"},
                    {"type": "redacted_thinking", "data": "ZW5jcnlwdGVk"},
                    {"type": "text", "text": "A cat. Checking the weather."},
                    {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {"city": "Paris"}},
                    {"type": "tool_use", "id": "toolu_02", "name": "screenshot", "input": {}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Here you go."},
                    {"type": "tool_result", "tool_use_id": "toolu_01", "content": "18°C, sunny"},
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_02",
                        "is_error": True,
                        "content": [
                            {"type": "text", "text": "partial capture"},
                            {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": PNG}},
                        ],
                    },
                ],
            },
        ],
        "tools": [
            {"name": "get_weather", "description": "Weather of a city", "input_schema": WEATHER_SCHEMA},
            {"name": "screenshot", "input_schema": {"type": "object"}, "cache_control": {"type": "ephemeral"}},
            {"type": "web_search_20250305", "name": "web_search", "max_uses": 3},
        ],
        "tool_choice": {"type": "auto", "disable_parallel_tool_use": True},
        "stop_sequences": ["\n\nHuman:"],
        "temperature": 0.7,
        "top_p": 0.9,
        "top_k": 40,
        "stream": True,
        "thinking": {"type": "enabled", "budget_tokens": 4096},
        "metadata": {"user_id": "user-42"},
        "context_management": {"edits": []},  # a beta parameter: passes, not forwarded
    }


def user(content: Any, **extra: Any) -> dict[str, Any]:
    return {"model": "claude-alias", "max_tokens": 100, "messages": [{"role": "user", "content": content}], **extra}
