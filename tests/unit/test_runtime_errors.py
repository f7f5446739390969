"""Refusals become one envelope with Japanese reasons and field names."""

from __future__ import annotations

from pydantic import BaseModel, Field, ValidationError

from contracts.common import ErrorCode
from services.runtime.errors import Conflict, envelope_for_validation, validation_to_fields


class _Form(BaseModel):
    auth_id: str = Field(min_length=6, title="認証ID")
    count: int = Field(ge=1)


def test_pydantic_errors_become_japanese_field_errors_with_labels():
    try:
        _Form.model_validate({"auth_id": "abc", "count": 0})
    except ValidationError as exc:
        fields = validation_to_fields(exc, _Form)
    by_field = {f.field: f for f in fields}
    assert by_field["auth_id"].label == "認証ID"
    assert by_field["auth_id"].message == "6文字以上で入力してください。"
    assert by_field["count"].message == "1以上の値を入力してください。"


def test_handler_level_validation_drops_the_parameter_name_and_finds_contract_labels():
    class Wrapper(BaseModel):
        cmd: _Form

    try:
        Wrapper.model_validate({"cmd": {"count": 3}})
    except ValidationError as exc:
        envelope = envelope_for_validation(exc)
    assert envelope["error"]["code"] == ErrorCode.VALIDATION
    (field,) = envelope["error"]["fields"]
    assert field["field"] == "auth_id" and field["label"] == "認証ID" and field["message"] == "入力してください。"


def test_domain_error_carries_code_message_and_details():
    reply = Conflict(details={"auth_id": "x"}).to_reply()
    assert reply.error.code == ErrorCode.CONFLICT
    assert reply.error.message == "既に登録されています。"
    assert reply.error.details == {"auth_id": "x"}
