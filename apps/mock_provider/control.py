"""The control API: set, list and clear the faults of targets, read and reset their request counts.

JSON in and out, errors in OpenAI's shape naming the field; no key asked (a development tool on loopback).
"""

from __future__ import annotations

from typing import Any

import orjson

from apps.mock_provider.behaviour import MockError
from apps.mock_provider.faults import FaultBook, fault_from_json, is_target_name
from apps.mock_provider.wire import Receive, Send, parse_json_object, read_body, send_json

FAULTS_PATH = "/mock/faults"
STATS_PATH = "/mock/stats"


def is_control_path(path: str) -> bool:
    return path in {FAULTS_PATH, STATS_PATH} or path.startswith(FAULTS_PATH + "/")


async def control_answer(book: FaultBook, method: str, path: str, receive: Receive, send: Send) -> None:
    """Answer a control API request (`path` without its trailing slash)."""
    answer: dict[str, Any]
    if path == STATS_PATH:
        _allow(method, "GET", "DELETE")
        if method == "DELETE":
            book.stats_clear()
        answer = book.stats()
    elif path == FAULTS_PATH:
        _allow(method, "GET", "DELETE")
        answer = {"cleared": book.fault_clear()} if method == "DELETE" else book.faults()
    else:
        target = path.removeprefix(FAULTS_PATH + "/")
        if not is_target_name(target):
            raise MockError(404, f"No target {target[:100]!r}: a target is named like [a-z0-9][a-z0-9_-]{{0,39}}.")
        _allow(method, "PUT", "DELETE")
        if method == "DELETE":
            answer = {"cleared": book.fault_clear(target=target)}
        else:
            fault = fault_from_json(parse_json_object(await read_body(receive)))
            book.fault_set(target=target, fault=fault)
            answer = {target: book.faults()[target]}
    await send_json(send, 200, orjson.dumps(answer))


def _allow(method: str, *allowed: str) -> None:
    if method not in allowed:
        raise MockError(405, f"Method {method} is not allowed here (only {', '.join(allowed)}).")
