"""What a browser would submit for a form of a rendered page: its fields with their rendered values."""

import re
from html.parser import HTMLParser


class _FormFields(HTMLParser):
    def __init__(self, form_id: str | None) -> None:
        super().__init__(convert_charrefs=True)
        self.form_id = form_id  # None: the page's first form
        self.inside = self.done = False
        self.fields: dict[str, str] = {}
        self._textarea: str | None = None
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag == "form" and not self.done:
            self.inside = self.form_id is None or attributes.get("id") == self.form_id
        if not self.inside or ("name" not in attributes and tag != "option"):
            return
        kind = attributes.get("type", "text")
        if tag == "input" and kind in {"checkbox", "radio"}:
            if "checked" in attributes:
                self.fields[attributes["name"]] = attributes.get("value") or "on"
        elif tag == "input" and kind not in {"submit", "button", "image", "reset"}:
            self.fields[attributes["name"]] = attributes.get("value", "")
        elif tag == "textarea":
            self._textarea = attributes["name"]
            self.fields[self._textarea] = ""
        elif tag == "select":
            self._select = attributes["name"]
        elif tag == "option" and self._select and "selected" in attributes:
            self.fields[self._select] = attributes.get("value", "")

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self.fields[self._textarea] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "form" and self.inside:
            self.inside, self.done = False, True
        elif tag == "textarea" and self._textarea is not None:
            # a browser drops the newline that follows <textarea>
            self.fields[self._textarea] = self.fields[self._textarea].removeprefix("\n")
            self._textarea = None
        elif tag == "select":
            self._select = None


def form_fields(html: str, form_id: str | None) -> dict[str, str]:
    parser = _FormFields(form_id)
    parser.feed(html)
    if not parser.fields:
        raise AssertionError(f"no form {form_id or ''} with fields on the page")
    return parser.fields


def table_cells(html: str, table_id: str) -> list[list[str]]:
    """The text of each body cell of the table with this id, row by row (tags stripped)."""
    body = re.search(rf'<table id="{table_id}">.*?<tbody>(.*?)</tbody>', html, re.S)
    assert body is not None, f"no table {table_id}"
    return [
        [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td>(.*?)</td>", row, re.S)]
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body.group(1), re.S)
    ]
