"""The recorded provider bodies and streams the adapter tests read."""

import orjson

from tests.live import ROOT

WIRE = ROOT / "tests" / "fixtures" / "wire"


def sse_events(raw: bytes) -> list[dict]:
    return [orjson.loads(line[6:]) for line in raw.split(b"\n\n") if line.startswith(b"data: {")]
