"""Reading an untrusted routing YAML: bounded, without anchors, and with the line each field is written on.

The document's size is capped before parsing; anchors and aliases are refused before anything is expanded
(no "billion laughs"), and so are deep nesting, huge values and more values than a document can need. The
node tree is composed first, so every field's path (`models[3].provider.api_base`) is mapped to its line
before the values are constructed; a refusal then reads `line 14: …` with `param` the path.
"""

import re
from typing import Any

import yaml
from yaml.composer import ComposerError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from apps.channels.services import InvalidDeployment

MAX_YAML_BYTES = 256 * 1024
MAX_YAML_ENTRIES = 200
MAX_YAML_DEPTH = 20
MAX_YAML_SCALAR = 8192  # the longest field (an api_key) is 4096; bounds YAML's own work on a value
# Values (keys included) a document may hold: an entry with every field and 32 tags has 65, and a `router:`
# block gets 4,096. Pure-Python YAML spends 2-4 CPU seconds on 256 KiB of small values (`[1,1,…]`, one key
# 50,000 times, merge-key lists).
MAX_YAML_NODES = MAX_YAML_ENTRIES * 64 + 4096
_MERGE_TAG = "tag:yaml.org,2002:merge"
_LAST_STEP = re.compile(r"(\[\d+\]|\.[^.\[]*)$")

Lines = dict[str, int]  # a field's path -> the (1-based) line its key or item starts on


class _PlainLoader(yaml.SafeLoader):
    """SafeLoader that refuses anchors and aliases (before any is expanded), deep nesting, huge values and
    more values than MAX_YAML_NODES (before the rest is read)."""

    depth = 0
    nodes = 0

    def _refuse(self, problem: str, event: yaml.Event) -> ComposerError:
        return ComposerError(None, None, problem, event.start_mark)  # type: ignore[arg-type]

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise self._refuse("anchors and aliases (&, *) are not accepted", event)
        if isinstance(event, yaml.ScalarEvent) and len(event.value) > MAX_YAML_SCALAR:
            raise self._refuse(f"a value is longer than {MAX_YAML_SCALAR} characters", event)
        if self.depth >= MAX_YAML_DEPTH:
            raise self._refuse(f"nested deeper than {MAX_YAML_DEPTH} levels", event)
        self.nodes += 1
        if self.nodes > MAX_YAML_NODES:
            raise self._refuse(f"more than {MAX_YAML_NODES} values", event)
        self.depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def line_of(path: str, lines: Lines) -> int | None:
    """The line of `path`, else of its nearest written parent (a missing field: the entry that lacks it)."""
    while path:
        if path in lines:
            return lines[path]
        shorter = _LAST_STEP.sub("", path)
        path = "" if shorter == path else shorter
    return None


def located(
    problem: str, path: str, lines: Lines | None = None, *, error: type[InvalidDeployment] = InvalidDeployment
) -> InvalidDeployment:
    """A refusal of the field at `path`: its message starts with the field's line when the text is known."""
    line = line_of(path, lines) if lines else None
    return error(problem if line is None else f"line {line}: {problem}", param=path or "yaml")


def _yaml_problem(exc: Exception) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = (getattr(exc, "problem", None) or str(exc).splitlines()[0])[:200]  # it may quote the document
    return f"This is not valid YAML{f' (line {mark.line + 1})' if mark else ''}: {problem}."


def _mapping_lines(node: MappingNode, path: str, lines: Lines) -> list[tuple[Node, str]]:
    children = []
    for key, value in node.value:
        if not isinstance(key, ScalarNode):
            continue  # refused when constructed: a mapping or list cannot be a key
        child = f"{path}.{key.value}" if path else key.value
        if key.tag == _MERGE_TAG:
            raise located("merge keys (<<) are not accepted.", child, {child: key.start_mark.line + 1})
        if child in lines:
            raise located("This key is written twice.", child, {child: key.start_mark.line + 1})
        lines[child] = key.start_mark.line + 1
        children.append((value, child))
    return children


def _lines(root: Node) -> Lines:
    lines: Lines = {}
    pending: list[tuple[Node, str]] = [(root, "")]
    while pending:
        node, path = pending.pop()
        if isinstance(node, MappingNode):
            pending.extend(_mapping_lines(node, path, lines))
        elif isinstance(node, SequenceNode):
            for index, item in enumerate(node.value):
                lines[f"{path}[{index}]"] = item.start_mark.line + 1
                pending.append((item, f"{path}[{index}]"))
    return lines


def yaml_read(text: str) -> tuple[Any, Lines]:
    """The document's values and the line of each field, or InvalidDeployment(param="yaml")."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_YAML_BYTES:
        raise InvalidDeployment(f"The YAML is larger than {MAX_YAML_BYTES // 1024} KiB.", param="yaml")
    loader: _PlainLoader | None = None
    try:
        loader = _PlainLoader(text)  # reads the whole text: a control character is refused here
        root = loader.get_single_node()
        if root is None:
            return None, {}
        lines = _lines(root)
        return loader.construct_document(root), lines
    except (yaml.YAMLError, ValueError, OverflowError) as exc:  # ValueError: a bad date, a 5,000-digit integer
        raise InvalidDeployment(_yaml_problem(exc), param="yaml") from exc
    finally:
        if loader is not None:
            loader.dispose()
