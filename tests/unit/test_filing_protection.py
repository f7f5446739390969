"""Personal data encryption: field-wise AES-GCM, key id beside each ciphertext, rotation, tamper detection."""

from __future__ import annotations

from datetime import date

import pytest

from contracts.filing import Person, Sex
from services.filing.adapters.cipher import PersonCipher
from services.filing.ports import TamperedCiphertext

K1 = bytes(range(32))
K2 = bytes(range(32, 64))

PERSON = Person(
    nationality="VNM",
    name_latin="NGUYEN VAN AN",
    sex=Sex.MALE,
    date_of_birth=date(1998, 4, 1),
    residence_card_number="AB12345678CD",
    event_date=date(2026, 10, 1),
)


def test_every_personal_field_is_its_own_ciphertext_with_the_key_id_and_no_plain_text():
    sealed = PersonCipher({"k1": K1}).seal("20270401-000001", 0, PERSON)
    assert set(sealed) == {"nationality", "name_latin", "sex", "date_of_birth", "residence_card_number", "event_date"}
    assert all(token.startswith("k1:") for token in sealed.values())
    blob = "".join(sealed.values())
    assert "NGUYEN" not in blob and "AB12345678CD" not in blob and "1998" not in blob


def test_sealed_person_opens_to_the_same_person():
    cipher = PersonCipher({"k1": K1})
    assert cipher.open("R-1", 3, cipher.seal("R-1", 3, PERSON)) == PERSON


def test_data_written_under_key_1_is_readable_after_key_2_becomes_current_and_after_reencryption():
    old = PersonCipher({"k1": K1})
    sealed = old.seal("R-1", 0, PERSON)
    rotated = PersonCipher({"k1": K1, "k2": K2})
    assert rotated.current_key_id == "k2"
    assert rotated.needs_rotation(sealed)
    assert rotated.open("R-1", 0, sealed) == PERSON
    resealed = rotated.seal("R-1", 0, rotated.open("R-1", 0, sealed))
    assert not rotated.needs_rotation(resealed)
    assert all(t.startswith("k2:") for t in resealed.values())
    # Once everything is re-encrypted, key 1 can be retired.
    assert PersonCipher({"k2": K2}).open("R-1", 0, resealed) == PERSON
    with pytest.raises(TamperedCiphertext):
        PersonCipher({"k2": K2}).open("R-1", 0, sealed)


@pytest.mark.parametrize("position", [0, 5, -1])
def test_a_flipped_ciphertext_byte_is_detected(position):
    cipher = PersonCipher({"k1": K1})
    sealed = cipher.seal("R-1", 0, PERSON)
    key_id, nonce, ct, fmt = sealed["residence_card_number"].split(":")
    raw = bytearray(__import__("base64").urlsafe_b64decode(ct + "=" * (-len(ct) % 4)))
    raw[position] ^= 0x01
    flipped = __import__("base64").urlsafe_b64encode(bytes(raw)).decode().rstrip("=")
    with pytest.raises(TamperedCiphertext):
        cipher.open("R-1", 0, {**sealed, "residence_card_number": f"{key_id}:{nonce}:{flipped}:{fmt}"})


def test_a_ciphertext_moved_to_another_field_person_or_filing_is_detected():
    cipher = PersonCipher({"k1": K1})
    sealed = cipher.seal("R-1", 0, PERSON)
    with pytest.raises(TamperedCiphertext):  # swapped between fields
        cipher.open("R-1", 0, {**sealed, "name_latin": sealed["nationality"], "nationality": sealed["name_latin"]})
    with pytest.raises(TamperedCiphertext):  # another person's position
        cipher.open("R-1", 1, sealed)
    with pytest.raises(TamperedCiphertext):  # another filing
        cipher.open("R-2", 0, sealed)
