"""What JSON the management API accepts: bounded in size and depth, and storable by PostgreSQL.

PostgreSQL's text and jsonb refuse NUL characters (and unpaired surrogates, which are not UTF-8), jsonb
refuses NaN and Infinity, and Python's parser gives up on deep nesting with a RecursionError: each of these
used to reach the database or the parser and answer an HTML 500. The parser refuses them for the whole body
(400 naming where), and JsonMetadataField bounds what a caller may store as metadata.
"""

import io
import json
import math
import re
from collections.abc import Mapping
from typing import Any

from rest_framework import exceptions, serializers
from rest_framework.parsers import JSONParser

MAX_BODY_BYTES = 1024 * 1024
MAX_BODY_DEPTH = 32
METADATA_MAX_DEPTH = 5
METADATA_MAX_KEYS = 50
METADATA_MAX_BYTES = 8 * 1024

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


class RequestTooLarge(exceptions.APIException):
    status_code = 413
    default_detail = f"The request body is larger than {MAX_BODY_BYTES} bytes."
    default_code = "request_too_large"


def json_refusal(value: Any, *, max_depth: int, max_keys: int | None = None) -> tuple[str, str] | None:
    """Where and why `value` (parsed JSON) cannot be taken, or None: nesting deeper than `max_depth`, an object
    of more than `max_keys` keys, a NUL or unpaired surrogate in a key or string, a non-finite number."""
    pending: list[tuple[Any, str, int]] = [(value, "", 0)]
    while pending:
        node, path, depth = pending.pop()
        if depth > max_depth:
            return path, f"Nesting is limited to {max_depth} levels."
        if isinstance(node, str) and _UNSTORABLE.search(node):
            return path, "Text may not contain NUL characters or unpaired surrogates."
        if isinstance(node, float) and not math.isfinite(node):
            return path, "Numbers must be finite."
        if isinstance(node, Mapping):
            if max_keys is not None and len(node) > max_keys:
                return path, f"An object holds at most {max_keys} keys."
            for name, child in node.items():
                if _UNSTORABLE.search(name):
                    return path, "Keys may not contain NUL characters or unpaired surrogates."
                pending.append((child, f"{path}.{name}" if path else name, depth + 1))
        elif isinstance(node, list):
            pending.extend(
                (child, f"{path}.{index}" if path else str(index), depth + 1) for index, child in enumerate(node)
            )
    return None


class BoundedJSONParser(JSONParser):
    """DRF's JSON parser, reading at most MAX_BODY_BYTES (413 beyond) and refusing what json_refusal names."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Mapping[str, Any] | None = None) -> Any:
        raw = stream.read(MAX_BODY_BYTES + 1)
        if len(raw) > MAX_BODY_BYTES:
            raise RequestTooLarge()
        try:
            data = super().parse(io.BytesIO(raw), media_type, parser_context)
        except (RecursionError, LookupError, TypeError) as exc:  # too deep, or a charset that is no text encoding
            raise exceptions.ParseError(f"JSON parse error - {type(exc).__name__}") from exc
        refusal = json_refusal(data, max_depth=MAX_BODY_DEPTH)
        if refusal is None:
            return data
        where, message = refusal
        if not where:
            raise exceptions.ParseError(message)
        raise serializers.ValidationError({where: message})


class JsonMetadataField(serializers.DictField):
    """A caller's free-form metadata: an object, at most METADATA_MAX_BYTES as JSON, METADATA_MAX_DEPTH deep,
    METADATA_MAX_KEYS keys per object, storable by PostgreSQL's jsonb."""

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        value: dict[str, Any] = super().to_internal_value(data)
        refusal = json_refusal(value, max_depth=METADATA_MAX_DEPTH, max_keys=METADATA_MAX_KEYS)
        if refusal is not None:
            where, message = refusal
            raise serializers.ValidationError(f"{where}: {message}" if where else message)
        if len(json.dumps(value, ensure_ascii=False).encode()) > METADATA_MAX_BYTES:
            raise serializers.ValidationError(f"Metadata is limited to {METADATA_MAX_BYTES} bytes as JSON.")
        return value
