"""The error answers a target's fault asks for, in the wire format of the route asked: a status, or a provider's
own context-length or content-policy refusal. Envelopes and messages follow the real providers' (the recorded
bodies in tests/fixtures/wire and the messages providers are seen to send); `{model}` names the model asked.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import orjson

from apps.mock_provider.behaviour import MockError
from apps.mock_provider.faults import Fault
from apps.mock_provider.gemini import gemini_blocked
from apps.mock_provider.wire import EVENT_STREAM, JSON, Call, WireFormat, error_body

OPENAI_MESSAGES = {
    401: "Incorrect API key provided: sk-mock****. You can find your API key at https://platform.openai.com/account/api-keys.",
    404: "The model `{model}` does not exist or you do not have access to it.",
    429: (
        "Rate limit reached for {model} in organization org-mock on requests per min. Limit: 3 / min. Please try "
        "again in 20s. Contact us through our help center at help.openai.com if you continue to have issues."
    ),
    500: (
        "The server had an error processing your request. Sorry about that! You can retry your request, or contact "
        "us through our help center at help.openai.com if you keep seeing this error."
    ),
    503: "The engine is currently overloaded, please try again later.",
}
OPENAI_CONTEXT_LENGTH = (
    "This model's maximum context length is 128000 tokens. However, you requested 130017 tokens (129017 in the "
    "messages, 1000 in the completion). Please reduce the length of the messages or completion."
)
OPENAI_CONTENT_POLICY = (
    "Your request was rejected as a result of our safety system. Your prompt may contain text that is not allowed "
    "by our safety system."
)
AZURE_CONTENT_FILTER = {
    "message": (
        "The response was filtered due to the prompt triggering Azure OpenAI's content management policy. Please "
        "modify your prompt and retry. To learn more about our content filtering policies please read our "
        "documentation: https://go.microsoft.com/fwlink/?linkid=2198766"
    ),
    "type": None,
    "param": "prompt",
    "code": "content_filter",
    "status": 400,
    "innererror": {
        "code": "ResponsibleAIPolicyViolation",
        "content_filter_result": {
            "hate": {"filtered": True, "severity": "high"},
            "self_harm": {"filtered": False, "severity": "safe"},
            "sexual": {"filtered": False, "severity": "safe"},
            "violence": {"filtered": False, "severity": "safe"},
        },
    },
}
ANTHROPIC_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}
ANTHROPIC_MESSAGES = {
    401: "invalid x-api-key",
    404: "model: {model}",
    429: "This request would exceed your account's rate limit. Please try again later.",
    500: "Internal server error",
    529: "Overloaded",
}
ANTHROPIC_CONTEXT_LENGTH = "prompt is too long: 208310 tokens > 200000 maximum"
ANTHROPIC_CONTENT_POLICY = "Output blocked by content filtering policy"
GEMINI_STATUSES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
GEMINI_MESSAGES = {
    400: "Request contains an invalid argument.",
    404: (
        "models/{model} is not found for API version v1beta, or is not supported for generateContent. Call "
        "ListModels to see the list of available models and their supported methods."
    ),
    429: "Resource has been exhausted (e.g. check quota).",
    500: "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting",
    503: "The model is overloaded. Please try again later.",
}
GEMINI_CONTEXT_LENGTH = "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576)."


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    content_type: bytes = JSON


def fault_answer(fault: Fault, call: Call) -> Answer:
    """What a refusing fault answers to `call`."""
    if fault.error == "context_length":
        return _context_length(call)
    if fault.error == "content_policy":
        return _content_policy(call)
    if fault.status is None:
        raise ValueError("Only a fault that refuses (a status or an error) has an answer.")
    return status_answer(call, fault.status)


def status_answer(call: Call, status: int) -> Answer:
    if call.wire == "anthropic":
        kind = ANTHROPIC_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
        return Answer(status, _anthropic_body(kind, _message(ANTHROPIC_MESSAGES, status, call.model)))
    if call.wire == "gemini":
        state = GEMINI_STATUSES.get(status, "UNAVAILABLE" if status >= 500 else "FAILED_PRECONDITION")
        return Answer(status, _gemini_body(status, state, _message(GEMINI_MESSAGES, status, call.model)))
    return Answer(status, error_body(status, _message(OPENAI_MESSAGES, status, call.model)))


def error_answer(wire: WireFormat, error: MockError) -> Answer:
    """A refusal the mock raised (a bad body, an asked-for status), in the wire format of the route asked."""
    if wire == "anthropic":
        kind = ANTHROPIC_TYPES.get(error.status, "api_error" if error.status >= 500 else "invalid_request_error")
        return Answer(error.status, _anthropic_body(kind, error.message))
    if wire == "gemini":
        state = GEMINI_STATUSES.get(error.status, "UNAVAILABLE" if error.status >= 500 else "FAILED_PRECONDITION")
        return Answer(error.status, _gemini_body(error.status, state, error.message))
    return Answer(error.status, error_body(error.status, error.message, param=error.param, code=error.code))


def _context_length(call: Call) -> Answer:
    if call.wire == "anthropic":
        return Answer(400, _anthropic_body("invalid_request_error", ANTHROPIC_CONTEXT_LENGTH))
    if call.wire == "gemini":
        return Answer(400, _gemini_body(400, "INVALID_ARGUMENT", GEMINI_CONTEXT_LENGTH))
    return Answer(400, error_body(400, OPENAI_CONTEXT_LENGTH, param="messages", code="context_length_exceeded"))


def _content_policy(call: Call) -> Answer:
    if call.wire == "anthropic":
        return Answer(400, _anthropic_body("invalid_request_error", ANTHROPIC_CONTENT_POLICY))
    if call.wire == "gemini":  # Gemini blocks a prompt with a 200 that has feedback and no candidates
        blocked = orjson.dumps(gemini_blocked(call.body, call.raw))
        if call.stream:
            return Answer(200, b"data: " + blocked + b"\r\n\r\n", EVENT_STREAM[1])
        return Answer(200, blocked)
    if call.wire == "azure":
        return Answer(400, orjson.dumps({"error": AZURE_CONTENT_FILTER}))
    return Answer(400, error_body(400, OPENAI_CONTENT_POLICY, code="content_policy_violation"))


def _message(messages: dict[int, str], status: int, model: str) -> str:
    template = messages.get(status, f"Mock provider was asked to fail with {status}.")
    return template.replace("{model}", model)


def _anthropic_body(kind: str, message: str) -> bytes:
    body = {"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_" + secrets.token_hex(12)}
    return orjson.dumps(body)


def _gemini_body(status: int, state: str, message: str) -> bytes:
    return orjson.dumps({"error": {"code": status, "message": message, "status": state}})
