"""The responses the mock stored (`store`, true by default), in memory: least recently used go first once
there are more than `max_responses` or they take more than `max_bytes`."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

MAX_RESPONSES = 1000
MAX_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class StoredResponse:
    response: dict[str, Any]  # the completed response object, as GET answers it
    items: list[dict[str, Any]]  # its input items, as input_items lists them
    conversation: tuple[str, ...]  # the words of the conversation up to and with its output
    size: int  # bytes it is counted as


class ResponseStore:
    def __init__(self, *, max_responses: int = MAX_RESPONSES, max_bytes: int = MAX_BYTES) -> None:
        self.max_responses, self.max_bytes = max_responses, max_bytes
        self._responses: OrderedDict[str, StoredResponse] = OrderedDict()
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._responses)

    def put(self, stored: StoredResponse) -> None:
        response_id = stored.response["id"]
        self.delete(response_id)
        self._responses[response_id] = stored
        self._bytes += stored.size
        while len(self._responses) > self.max_responses or (self._bytes > self.max_bytes and len(self._responses) > 1):
            _, evicted = self._responses.popitem(last=False)
            self._bytes -= evicted.size

    def get(self, response_id: str) -> StoredResponse | None:
        stored = self._responses.get(response_id)
        if stored is not None:
            self._responses.move_to_end(response_id)
        return stored

    def delete(self, response_id: str) -> bool:
        stored = self._responses.pop(response_id, None)
        if stored is None:
            return False
        self._bytes -= stored.size
        return True
