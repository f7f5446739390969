"""Ciphertexts that say nothing by their length (issue 16): every value of sex, every
nationality of the list, a range of dates, card numbers and names seal to one length per field;
備考 only to whole blocks; a ciphertext written before padding still opens and is reported for
re-encryption, and a padded one cannot be passed off as an unpadded one."""

from __future__ import annotations

import base64
import os
from datetime import date, timedelta

import pytest

from contracts.filing import Person, Sex
from services.filing.adapters.cipher import PersonCipher, pad, unpad
from services.filing.domain import nationalities
from services.filing.ports import TamperedCiphertext

K1 = bytes(range(32))
K2 = bytes(range(32, 64))
BASE = Person(
    nationality="VNM",
    name_latin="NGUYEN VAN AN",
    sex=Sex.MALE,
    date_of_birth=date(1998, 4, 1),
    residence_card_number="AB12345678CD",
    event_date=date(2026, 10, 1),
)


def lengths(persons: list[Person]) -> dict[str, set[int]]:
    cipher = PersonCipher({"k1": K1})
    out: dict[str, set[int]] = {}
    for i, p in enumerate(persons):
        for field, token in cipher.seal("20270401-000001", i, p).items():
            out.setdefault(field, set()).add(len(token))
    return out


def test_every_sex_nationality_date_card_and_valid_name_seals_to_one_length_per_field():
    codes = [n.code for n in nationalities.nationalities()]
    days = [date(1900, 1, 1) + timedelta(days=d) for d in range(0, 46_000, 37)]
    names = ["A", "AN", "LI", "NGUYEN VAN AN", "O'BRIEN-SMITH, J.", "X" * 100, "A " * 49 + "B"]
    persons = [
        BASE.model_copy(
            update={
                "nationality": codes[i % len(codes)],
                "sex": list(Sex)[i % 2],
                "date_of_birth": days[i % len(days)],
                "event_date": days[(i * 7) % len(days)],
                "residence_card_number": f"{chr(65 + i % 26)}Z{i:08d}QR",
                "name_latin": names[i % len(names)],
            }
        )
        for i in range(max(len(codes), len(days)))
    ]
    assert {p.nationality for p in persons} == set(codes)
    assert {p.sex for p in persons} == set(Sex)
    found = lengths(persons)
    assert {field: len(sizes) for field, sizes in found.items()} == {
        "nationality": 1,
        "name_latin": 1,
        "sex": 1,
        "date_of_birth": 1,
        "residence_card_number": 1,
        "event_date": 1,
    }


def test_remarks_are_padded_to_whole_blocks():
    found = lengths([BASE.model_copy(update={"remarks": text}) for text in ("", "短い", "x" * 200, "あ" * 85)])
    assert len(found["remarks"]) == 1  # everything under 256 bytes looks alike
    longer = lengths([BASE.model_copy(update={"remarks": "あ" * 1000})])["remarks"]
    assert longer != found["remarks"]


@pytest.mark.parametrize("value", [b"", b"male", b"\x00\x80", "㈱①".encode(), os.urandom(300)])
def test_padding_is_undone_exactly(value):
    for field in ("sex", "name_latin", "remarks", "something_new"):
        padded = pad(field, value)
        assert len(padded) > len(value) and unpad(padded) == value


def legacy_seal(cipher_key: bytes, key_id: str, number: str, index: int, person: Person) -> dict[str, str]:
    """A ciphertext as the service wrote it before values were padded."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).decode().rstrip("=")

    out = {}
    for field, value in person.model_dump(mode="json").items():
        if value is None:
            continue
        nonce = os.urandom(12)
        ct = AESGCM(cipher_key).encrypt(nonce, str(value).encode(), f"ens-filing|{number}|{index}|{field}".encode())
        out[field] = f"{key_id}:{b64(nonce)}:{b64(ct)}"
    return out


def test_a_ciphertext_written_before_padding_still_opens_and_needs_reencryption():
    cipher = PersonCipher({"k1": K1})
    old = legacy_seal(K1, "k1", "R-1", 0, BASE)
    assert cipher.open("R-1", 0, old) == BASE
    assert cipher.needs_rotation(old)
    resealed = cipher.seal("R-1", 0, cipher.open("R-1", 0, old))
    assert not cipher.needs_rotation(resealed)
    assert PersonCipher({"k1": K1, "k2": K2}).needs_rotation(resealed)  # a newer key is current


def test_a_padded_ciphertext_passed_off_as_an_unpadded_one_does_not_open():
    cipher = PersonCipher({"k1": K1})
    sealed = cipher.seal("R-1", 0, BASE)
    stripped = {field: token.rsplit(":", 1)[0] for field, token in sealed.items()}
    with pytest.raises(TamperedCiphertext):
        cipher.open("R-1", 0, stripped)
