"""Ingress dialects: client wire formats other than OpenAI's, translated to and from the gateway's one internal
request format (OpenAI's chat completions body). Pure translation, no Django: the pipeline wires them.

Anthropic Messages (`POST /v1/messages`):
- `anthropic_shape.messages_shape`: validate the request as Anthropic does, and bound its tokens;
- `anthropic_request.messages_to_chat`: the request as an OpenAI chat body;
- `anthropic_response.chat_to_message`: an OpenAI chat.completion as an Anthropic Message;
- `anthropic_stream.ChatStreamToMessages`: OpenAI chunk events as Anthropic's stream events;
- `anthropic_errors`: errors in Anthropic's envelope, as a body or a stream event.
"""
