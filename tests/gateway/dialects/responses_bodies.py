"""Responses request bodies for the dialect tests, shaped like what Codex sends (store off, the whole
conversation as items, encrypted reasoning sent back, function tools)."""

from typing import Any

PNG = "data:image/png;base64,iVBORw0KGgo="
PDF = "data:application/pdf;base64,JVBERi0xLjQK"
SHELL = {
    "type": "function",
    "name": "shell",
    "description": "Runs a shell command and returns its output.",
    "parameters": {
        "type": "object",
        "properties": {"command": {"type": "array", "items": {"type": "string"}}, "workdir": {"type": "string"}},
        "required": ["command"],
        "additionalProperties": False,
    },
    "strict": False,
}
READ_FILE = {
    "type": "function",
    "name": "read_file",
    "parameters": {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]},
}


def codex_body() -> dict[str, Any]:
    """Every item and parameter the dialect maps, in one conversation."""
    return {
        "model": "gpt-5-codex",
        "instructions": "You are Codex, a coding agent.",
        "input": [
            {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "<permissions/>"}]},
            {
                "type": "message",
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "<environment_context/>"},
                    {"type": "input_text", "text": "Fix the failing test; the screenshot shows it."},
                    {"type": "input_image", "image_url": PNG, "detail": "high"},
                    {"type": "input_file", "filename": "spec.pdf", "file_data": PDF},
                ],
            },
            {
                "type": "reasoning",
                "id": "rs_01",
                "summary": [{"type": "summary_text", "text": "Looking at the files first."}],
                "encrypted_content": "gAAAAABo-opaque",
            },
            {
                "type": "message",
                "role": "assistant",
                "id": "msg_01",
                "status": "completed",
                "content": [{"type": "output_text", "text": "Let me look.", "annotations": []}],
            },
            {"type": "function_call", "call_id": "call_1", "name": "shell", "arguments": '{"command":["ls"]}'},
            {"type": "function_call", "call_id": "call_2", "name": "read_file", "arguments": '{"path":"a.py"}'},
            {"type": "function_call_output", "call_id": "call_1", "output": "a.py\nb.py"},
            {
                "type": "function_call_output",
                "call_id": "call_2",
                "output": [
                    {"type": "input_text", "text": "print(1)"},
                    {"type": "input_image", "image_url": "https://example.com/render.png"},
                ],
            },
            {"role": "user", "content": "Thanks, go on."},
        ],
        "tools": [SHELL, READ_FILE],
        "tool_choice": "auto",
        "parallel_tool_calls": True,
        "reasoning": {"effort": "medium", "summary": "auto"},
        "store": False,
        "stream": True,
        "include": ["reasoning.encrypted_content"],
        "prompt_cache_key": "0199a1b2-session",
        "text": {"verbosity": "low"},
        "max_output_tokens": 4096,
        "temperature": 0.5,
        "top_p": 0.9,
        "user": "user-42",
        "metadata": {"ticket": "HY-7"},
        "truncation": "disabled",
    }


def plain(**extra: Any) -> dict[str, Any]:
    return {"model": "gpt-5", "input": "hello", **extra}
