"""Bounds every command body meets before anything else sees it (SPEC §4: every field is bounded
before it is logged, audited or used in a key or subject).

The edge (services/runtime/errors.py) runs `check_body` on the raw bytes of every command,
before FastStream decodes it, before the pipeline audits it and before any use case hashes a
password or reads a bucket. What it refuses is answered with the validation envelope naming the
problem (or `too_large` for an oversized body):

- a body larger than its command allows (most commands: 64 KiB; the filing submissions more);
- bytes that are not UTF-8, JSON that does not parse, NaN/Infinity, integers beyond ±2^53
  (what every JSON reader agrees on), floats that overflow;
- nesting deeper than `MAX_DEPTH` (a 100,000-deep array used to end in a RecursionError);
- any string (object keys included) longer than its field allows: `MAX_STRING` characters unless
  `TEXT_FIELDS` names the field — short enough that an encoded key or subject token made of it
  stays far below NATS's 4 KiB control line;
- lone surrogates (they cannot be encoded, so they break audit records and keys), NUL and other
  control characters anywhere, and line breaks in single-line fields (an organisation's name
  printed into a mail must not become a `Bcc:` line).

The limits are generic on purpose: they protect every service, including commands added later,
without each contract restating them. A contract's own, tighter limits (`max_length`, patterns)
still apply afterwards and give a field's own message.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

MAX_DEPTH = 12
"""Deepest nesting any contract needs is 4 (a command, its persons list, a person, a value)."""

MAX_STRING = 256
"""Characters of any string no field below names: ids, names, addresses, tokens, subjects."""

TEXT_FIELDS: dict[str, int | None] = {
    # Bounds, not rules: above what the contracts allow (備考: 1,000), so a contract's own limit
    # gives the field's message and the service's other rules still run on the rest.
    "remarks": 4000,  # 備考
    "reasons": 4000,  # each of an officer's return reasons
    "body": 10000,  # a notice's text (お知らせ)
    "csv_base64": None,  # bounded by the body limit, and by the filing service's upload limit
    "password": 1024,  # refused by the password rules anyway; only bounded here
    "current_password": 1024,
    "new_password": 1024,
    "initial_password": 1024,
    "diagnostic": 2000,  # a bounce's Diagnostic-Code as the receiving server wrote it (RecordBounce)
    "original_message_id": 998,  # a header line's limit (RFC 5322 §2.1.1)
}
"""Fields allowed longer strings than MAX_STRING (None: only the body limit bounds them)."""

MULTILINE_FIELDS = frozenset({"remarks", "reasons", "body"})
"""Free text where a line break is content; everywhere else CR, LF and TAB are refused."""

DEFAULT_MAX_BODY = 64 * 1024
MAX_INT = 2**53 - 1

_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
_CONTROL_SINGLE_LINE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


@dataclass(frozen=True)
class Violation:
    """One reason a body is refused: the dotted path of the field (`(body)` for the whole), a
    stable code and a Japanese message."""

    field: str
    code: str
    message: str


class BodyRefused(Exception):
    def __init__(self, violations: list[Violation], *, too_large: bool = False, limit: int | None = None) -> None:
        super().__init__("; ".join(f"{v.field}: {v.code}" for v in violations))
        self.violations = violations
        self.too_large = too_large
        self.limit = limit


class _NumberRefused(ValueError):
    pass


def _int(text: str) -> int:
    # Digits are counted before int() runs: a 100,000-digit number is refused at once.
    if len(text.lstrip("-")) > 16 or abs(value := int(text)) > MAX_INT:
        raise _NumberRefused(text[:20])
    return value


def _float(text: str) -> float:
    if len(text) > 64:
        raise _NumberRefused(text[:20])
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise _NumberRefused(text[:20])
    return value


def _constant(text: str) -> Any:
    raise _NumberRefused(text)


def _body_error(code: str, message: str) -> BodyRefused:
    return BodyRefused([Violation("(body)", code, message)])


def parse(body: bytes, *, max_bytes: int = DEFAULT_MAX_BODY) -> tuple[Any, list[Violation]]:
    """The body as JSON and what in it is over the limits. A body that cannot be read at all
    (too large, not UTF-8, not JSON, too deep, a number out of range) raises BodyRefused; field
    violations are returned, so the caller can report them together with the contract's."""
    if len(body) > max_bytes:
        raise BodyRefused(
            [
                Violation(
                    "(body)",
                    "too_large",
                    f"送信内容が大きすぎます（{len(body):,}バイト）。{max_bytes:,}バイト以下にしてください。",
                )
            ],
            too_large=True,
            limit=max_bytes,
        )
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise _body_error("encoding", "UTF-8 として読み取れない文字が含まれています。") from None
    try:
        value = json.loads(text or "{}", parse_int=_int, parse_float=_float, parse_constant=_constant)
    except RecursionError:
        raise _body_error("too_deep", f"入れ子が深すぎます（{MAX_DEPTH}段まで）。") from None
    except _NumberRefused:
        raise _body_error("number_out_of_range", f"数値が大きすぎます（±{MAX_INT:,}まで、有限の値のみ）。") from None
    except ValueError:
        raise _body_error("json_invalid", "JSON として読み取れません。") from None
    violations: list[Violation] = []
    for v in _walk(value):
        if v.code == "too_deep":  # the body's shape, whichever field it shows in
            raise _body_error("too_deep", v.message)
        violations.append(v)
        if len(violations) >= MAX_VIOLATIONS:
            break
    return value, violations


MAX_VIOLATIONS = 2100
"""Bounds the reply: every field of 300 persons."""


def _walk(root: Any) -> Iterator[Violation]:
    """Every violation of the value, iteratively (no recursion on attacker-chosen depth)."""
    stack: list[tuple[Any, tuple[str, ...], str | None, int]] = [(root, (), None, 0)]
    while stack:
        value, path, name, depth = stack.pop()
        if depth > MAX_DEPTH:
            yield Violation(_dotted(path), "too_deep", f"入れ子が深すぎます（{MAX_DEPTH}段まで）。")
            continue
        if isinstance(value, str):
            yield from _string(value, path, name)
        elif isinstance(value, dict):
            for key, item in value.items():
                key_path = (*path, key[:40])
                if len(key) > MAX_STRING or _CONTROL_SINGLE_LINE.search(key):
                    yield Violation(_dotted(key_path), "bad_key", "項目名が正しくありません。")
                    continue
                stack.append((item, key_path, key, depth + 1))
        elif isinstance(value, list):
            for i, item in enumerate(value):
                stack.append((item, (*path, str(i)), name, depth + 1))


def _string(value: str, path: tuple[str, ...], name: str | None) -> Iterator[Violation]:
    limit = TEXT_FIELDS.get(name, MAX_STRING) if name is not None else MAX_STRING
    if limit is not None and len(value) > limit:
        yield Violation(_dotted(path), "too_long", f"{limit:,}文字以内で入力してください。")
        return
    multiline = name in MULTILINE_FIELDS
    found = (_CONTROL if multiline else _CONTROL_SINGLE_LINE).search(value)
    if found is None:
        return
    ch = found.group()
    if "\ud800" <= ch <= "\udfff":
        yield Violation(_dotted(path), "invalid_character", "文字として読み取れない値（不正なサロゲート）が含まれています。")
    elif ch in "\r\n\u2028\u2029":
        yield Violation(_dotted(path), "line_break", "改行は入力できません。1行で入力してください。")
    else:
        yield Violation(_dotted(path), "control_character", "制御文字（NUL等）は入力できません。")


def bounded_token(text: str, limit: int = 64) -> str:
    """A subject token as a name in a log or an audit record: bounded, printable."""
    cut = text[:limit]
    return cut if cut.isprintable() else cut.encode("unicode_escape").decode()[:limit]


def _dotted(path: tuple[str, ...]) -> str:
    return ".".join(path) or "(body)"
