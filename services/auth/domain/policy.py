"""The input rules of SPEC §1 as plain functions: each returns the field errors it finds, so a
command can report every offending field at once (and store nothing)."""

from __future__ import annotations

import re
import unicodedata

from email_validator import EmailNotValidError, validate_email

from contracts.auth import RequestProvenance
from contracts.common import FieldError
from services.runtime.errors import field_error

# The agency's published symbol set (Q30-36); nothing else is allowed in auth IDs or passwords.
SYMBOLS = frozenset("$%&=@_#*+-?!")
ASCII_LETTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
DIGITS = frozenset("0123456789")
ALLOWED = ASCII_LETTERS | DIGITS | SYMBOLS

AUTH_ID_MIN, AUTH_ID_MAX = 6, 20
PASSWORD_MIN, PASSWORD_MAX = 8, 32

# An officer-assigned code (for organisations without a corporate number) starts with a letter,
# so it can never be mistaken for a 13-digit corporate number.
OFFICER_CODE = re.compile(r"[A-Z][A-Z0-9-]{3,19}")


def auth_id_errors(value: str, field: str = "auth_id", label: str = "認証ID") -> list[FieldError]:
    if not value:
        return [field_error(field, "required", "入力してください。", label)]
    errors = []
    if not AUTH_ID_MIN <= len(value) <= AUTH_ID_MAX:
        errors.append(field_error(field, "length", f"{AUTH_ID_MIN}文字以上{AUTH_ID_MAX}文字以内で入力してください。", label))
    if any(ch not in ALLOWED for ch in value):
        errors.append(
            field_error(field, "charset", "半角英字、半角数字、記号（$ % & = @ _ # * + - ? !）のみ使用できます。", label)
        )
    return errors


def password_errors(
    value: str,
    auth_id: str,
    field: str = "password",
    label: str = "パスワード",
) -> list[FieldError]:
    """The policy on its own; "differs from the current one" needs the stored hash and is checked
    by the caller."""
    if not value:
        return [field_error(field, "required", "入力してください。", label)]
    errors = []
    if not PASSWORD_MIN <= len(value) <= PASSWORD_MAX:
        errors.append(field_error(field, "length", f"{PASSWORD_MIN}文字以上{PASSWORD_MAX}文字以内で入力してください。", label))
    if any(ch not in ALLOWED for ch in value):
        errors.append(
            field_error(field, "charset", "半角英字、半角数字、記号（$ % & = @ _ # * + - ? !）のみ使用できます。", label)
        )
    if not any(ch in ASCII_LETTERS for ch in value):
        errors.append(field_error(field, "needs_letter", "半角英字を1文字以上含めてください。", label))
    if not any(ch in DIGITS for ch in value):
        errors.append(field_error(field, "needs_digit", "半角数字を1文字以上含めてください。", label))
    if not any(ch in SYMBOLS for ch in value):
        errors.append(field_error(field, "needs_symbol", "記号（$ % & = @ _ # * + - ? !）を1文字以上含めてください。", label))
    if auth_id and auth_id.lower() in value.lower():
        errors.append(field_error(field, "contains_auth_id", "認証IDを含むパスワードは使用できません。", label))
    return errors


def corporate_number_is_valid(number: str) -> bool:
    """法人番号: 13 digits, the first being a check digit over the other twelve
    (9 - (Σ P_n × Q_n mod 9), P_n the n-th digit counted from the right, Q_n = 1 odd / 2 even)."""
    if len(number) != 13 or not number.isascii() or not number.isdigit():
        return False
    base = number[1:]
    total = sum(int(d) * (1 if n % 2 == 1 else 2) for n, d in enumerate(reversed(base), start=1))
    return int(number[0]) == 9 - total % 9


def organisation_id_errors(value: str, field: str = "organisation.organisation_id") -> list[FieldError]:
    label = "法人番号等"
    if not value:
        return [field_error(field, "required", "入力してください。", label)]
    if value.isascii() and value.isdigit():
        if len(value) != 13:
            return [field_error(field, "length", "法人番号は13桁の数字で入力してください。", label)]
        if not corporate_number_is_valid(value):
            return [field_error(field, "check_digit", "法人番号のチェックデジットが正しくありません。", label)]
        return []
    if not OFFICER_CODE.fullmatch(value):
        return [
            field_error(
                field,
                "pattern",
                "13桁の法人番号、または英大文字で始まる4〜20文字の機関コード（英大文字・数字・ハイフン）で入力してください。",
                label,
            )
        ]
    return []


def name_errors(value: str, field: str, label: str, max_length: int = 200) -> list[FieldError]:
    if not value.strip():
        return [field_error(field, "required", "入力してください。", label)]
    if len(value) > max_length:
        return [field_error(field, "too_long", f"{max_length}文字以内で入力してください。", label)]
    return []


def email_errors(value: str, field: str = "email", label: str = "メールアドレス") -> list[FieldError]:
    """Syntax only (no DNS lookup: registration must not depend on the network); stored as given."""
    if not value:
        return [field_error(field, "required", "入力してください。", label)]
    try:
        validate_email(value, check_deliverability=False)
    except EmailNotValidError:
        return [field_error(field, "email", "メールアドレスの形式が正しくありません。", label)]
    return []


def request_errors(request: RequestProvenance | None, field: str = "request") -> list[FieldError]:
    """Where a request came from goes into the audit trail as evidence: each part present, and
    printable (no control characters that could forge a line of the trail)."""
    if request is None:
        return []
    errors = []
    for name, label in (("bureau", "受付官署"), ("form_reference", "届出書等の受付番号")):
        value: str = getattr(request, name)
        if not value.strip():
            errors.append(field_error(f"{field}.{name}", "required", "入力してください。", label))
        elif any(unicodedata.category(ch).startswith("C") for ch in value):
            errors.append(field_error(f"{field}.{name}", "control_character", "使用できない文字が含まれています。", label))
    return errors
