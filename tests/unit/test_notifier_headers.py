"""The RFC 2047 encoder, over any text: never a split character, never a line over 78."""

from __future__ import annotations

import base64
import re

from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from ens.cli import cli
from services.notifier.domain.rendering import CRLF, _encoded

WORD = re.compile(r"^=\?utf-8\?b\?([A-Za-z0-9+/=]*)\?=$")
TEXT = st.text(alphabet=st.sampled_from(list("あいう漢字【】（）ｱｲｳ ー・abcXYZ019 -_é€😀𠮷")), min_size=1, max_size=200)


@settings(max_examples=300, deadline=None)
@given(TEXT, st.sampled_from(["Subject", "From", "X-A-Very-Long-Header-Name"]))
def test_encoded_words_decode_alone_fit_78_columns_and_give_back_the_text(text, name):
    value = _encoded(name, text)
    lines = f"{name}: {value}".split(CRLF)
    assert all(len(line) <= 78 for line in lines), lines
    if text.isascii():
        assert value == text
        return
    decoded = ""
    for line in value.split(CRLF):
        word = WORD.match(line.strip())
        assert word, line
        assert len(line.strip()) <= 75
        decoded += base64.b64decode(word.group(1)).decode("utf-8")  # fails on a split character
    assert decoded == text


def test_ens_mail_preview_renders_every_type_without_nats_or_smtp(tmp_path):
    runner = CliRunner()
    shown = runner.invoke(cli, ["mail", "preview", "password_changed"], env={"ENS_NATS_URL": "nats://127.0.0.1:1"})
    assert shown.exit_code == 0, shown.output
    assert "Subject: 【電子届出システム】パスワード変更のお知らせ" in shown.output
    assert "お心当たりのない場合" in shown.output
    officer = runner.invoke(cli, ["mail", "preview", "password_changed.by_officer"])
    assert "Subject: 【電子届出システム】パスワード再設定のお知らせ" in officer.output and "申出書" in officer.output
    every = runner.invoke(cli, ["mail", "preview"])
    assert every.exit_code == 0 and every.output.count("==== ") == 16  # every variant of the nine types
    for name in (
        "password_expiry_soon.30_days",
        "filing_submitted.bulk",
        "filing_changed.fix",
        "email_changed_notice.by_officer",
    ):
        assert f"==== {name} " in every.output
    eml = tmp_path / "m.eml"
    saved = runner.invoke(cli, ["mail", "preview", "filing_submitted", "--eml", str(eml)])
    assert saved.exit_code == 0 and eml.read_bytes().startswith(b"From: ")
    unknown = runner.invoke(cli, ["mail", "preview", "no_such_type"])
    assert unknown.exit_code == 2
