"""Block Kit's documented limits for the blocks and elements a message may carry, checked as Slack checks them.

``problems(blocks)`` lists every violation the way Slack reports it in
``response_metadata.messages`` of an ``invalid_blocks`` error:
``[ERROR] must be less than 3001 characters [json-pointer:/blocks/0/text/text]``.
Limits are those of Slack's Block Kit reference (blocks, block elements and
composition objects); block types the bot never sends are accepted unchecked.
"""

from __future__ import annotations

from typing import Any

MAX_BLOCKS = 50
_OTHER_BLOCKS = frozenset({"image", "rich_text", "input", "file", "video", "markdown"})


def problems(blocks: Any) -> list[str]:
    """Every Block Kit limit ``blocks`` breaks, as Slack words it; empty when Slack accepts them."""
    out: list[str] = []
    if not isinstance(blocks, list):
        return [_error("must be an array", "/blocks")]
    if len(blocks) > MAX_BLOCKS:
        out.append(_too_many(MAX_BLOCKS, "/blocks"))
    for i, block in enumerate(blocks):
        _block(block, f"/blocks/{i}", out)
    return out


def _error(what: str, pointer: str) -> str:
    return f"[ERROR] {what} [json-pointer:{pointer}]"


def _too_many(limit: int, pointer: str) -> str:
    return _error(f"must be less than {limit + 1} items", pointer)


def _text(obj: Any, pointer: str, limit: int, out: list[str], *, plain: bool = False) -> None:
    """A text object: plain_text (or mrkdwn where allowed) with 1 to ``limit`` characters."""
    allowed = ("plain_text",) if plain else ("plain_text", "mrkdwn")
    if not isinstance(obj, dict) or obj.get("type") not in allowed:
        out.append(_error(f"must provide an object of type {' or '.join(allowed)}", pointer))
        return
    text = obj.get("text")
    if not isinstance(text, str) or not text:
        out.append(_error("must be more than 0 characters", f"{pointer}/text"))
    elif len(text) > limit:
        out.append(_error(f"must be less than {limit + 1} characters", f"{pointer}/text"))


def _string(obj: dict, key: str, limit: int, pointer: str, out: list[str], *, required: bool = False) -> None:
    value = obj.get(key)
    if value is None:
        if required:
            out.append(_error(f"missing required field: {key}", pointer))
    elif not isinstance(value, str) or len(value) > limit:
        out.append(_error(f"must be less than {limit + 1} characters", f"{pointer}/{key}"))


def _items(obj: dict, key: str, limit: int, pointer: str, out: list[str]) -> list:
    """The list at ``key`` (1 to ``limit`` items); missing or empty is reported."""
    items = obj.get(key)
    if not isinstance(items, list) or not items:
        out.append(_error(f"missing required field: {key}", pointer))
        return []
    if len(items) > limit:
        out.append(_too_many(limit, f"{pointer}/{key}"))
    return items


def _block(block: Any, pointer: str, out: list[str]) -> None:
    if not isinstance(block, dict):
        out.append(_error("must be an object", pointer))
        return
    _string(block, "block_id", 255, pointer, out)
    kind = block.get("type")
    if kind == "section":
        if "text" not in block and "fields" not in block:
            out.append(_error("missing required field: text", pointer))
        if "text" in block:
            _text(block["text"], f"{pointer}/text", 3000, out)
        if "fields" in block:
            for i, f in enumerate(_items(block, "fields", 10, pointer, out)):
                _text(f, f"{pointer}/fields/{i}", 2000, out)
        if "accessory" in block:
            _element(block["accessory"], f"{pointer}/accessory", out)
    elif kind == "header":
        _text(block.get("text"), f"{pointer}/text", 150, out, plain=True)
    elif kind == "context":
        for i, e in enumerate(_items(block, "elements", 10, pointer, out)):
            if not (isinstance(e, dict) and e.get("type") == "image"):
                _text(e, f"{pointer}/elements/{i}", 3000, out)
    elif kind == "actions":
        for i, e in enumerate(_items(block, "elements", 25, pointer, out)):
            _element(e, f"{pointer}/elements/{i}", out)
    elif kind != "divider" and kind not in _OTHER_BLOCKS:
        out.append(_error(f"unsupported type: {kind}", f"{pointer}/type"))


def _element(element: Any, pointer: str, out: list[str]) -> None:
    if not isinstance(element, dict):
        out.append(_error("must be an object", pointer))
        return
    _string(element, "action_id", 255, pointer, out)
    kind = element.get("type")
    if kind == "button":
        _text(element.get("text"), f"{pointer}/text", 75, out, plain=True)
        _string(element, "value", 2000, pointer, out)
        _string(element, "url", 3000, pointer, out)
        if element.get("style") not in (None, "primary", "danger"):
            out.append(_error("must be one of primary, danger", f"{pointer}/style"))
    elif kind == "static_select":
        if "placeholder" in element:
            _text(element["placeholder"], f"{pointer}/placeholder", 150, out, plain=True)
        for i, option in enumerate(_items(element, "options", 100, pointer, out)):
            _option(option, f"{pointer}/options/{i}", out)
    if "confirm" in element:
        _confirm(element["confirm"], f"{pointer}/confirm", out)


def _option(option: Any, pointer: str, out: list[str]) -> None:
    if not isinstance(option, dict):
        out.append(_error("must be an object", pointer))
        return
    _text(option.get("text"), f"{pointer}/text", 75, out, plain=True)
    _string(option, "value", 150, pointer, out, required=True)


def _confirm(confirm: Any, pointer: str, out: list[str]) -> None:
    """A confirmation dialog: title 100, text 300, confirm and deny 30 characters, all required."""
    if not isinstance(confirm, dict):
        out.append(_error("must be an object", pointer))
        return
    _text(confirm.get("title"), f"{pointer}/title", 100, out, plain=True)
    _text(confirm.get("text"), f"{pointer}/text", 300, out)
    _text(confirm.get("confirm"), f"{pointer}/confirm", 30, out, plain=True)
    _text(confirm.get("deny"), f"{pointer}/deny", 30, out, plain=True)
