"""Ingress dialects: client wire formats other than OpenAI's, translated to and from the gateway's one internal
request format (OpenAI's chat completions body). Pure translation, no Django: the pipeline wires them.

Anthropic Messages (`POST /v1/messages`):
- `anthropic_shape.messages_shape`: validate the request as Anthropic does, and bound its tokens;
- `anthropic_request.messages_to_chat`: the request as an OpenAI chat body;
- `anthropic_response.chat_to_message`: an OpenAI chat.completion as an Anthropic Message;
- `anthropic_stream.ChatStreamToMessages`: OpenAI chunk events as Anthropic's stream events;
- `anthropic_errors`: errors in Anthropic's envelope, as a body or a stream event.

OpenAI Responses (`POST /v1/responses`: Codex, the OpenAI SDKs' `client.responses`):
- `responses_shape.responses_shape`: validate the request as OpenAI does, and bound its tokens;
- `responses_request.responses_to_chat`: the request (and the history a previous_response_id loads) as an
  OpenAI chat body; `input_chat_messages` and `input_items`: what a stored turn keeps;
- `responses_response.chat_to_response`: an OpenAI chat.completion as a Response object;
  `response_output_messages`: a stored Response as the next turn's history;
- `responses_stream.ChatStreamToResponses`: OpenAI chunk events as the Responses API's typed events;
- `responses_errors`: stored-response errors, and the error of a failed Response.
"""
