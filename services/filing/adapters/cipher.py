"""Field-wise authenticated encryption of the persons' personal data (SPEC §2 Protection).

Each personal field is its own AES-256-GCM ciphertext, written `key_id:nonce:ciphertext:1`
(base64url), so keys can rotate: the key id says which key of the ring opens it, and the
last key of the ring writes. The associated data binds a ciphertext to its filing, its
person's position, its field and its format: a ciphertext moved to another filing, person or
field does not open, and neither does one with a flipped byte.

**Lengths say nothing.** GCM's ciphertext is as long as its plaintext, so unpadded a `male`
was 3 characters shorter than a `female` in the store, and a nationality or a date gave away
its length class. Every value is padded (ISO/IEC 7816-4: a 0x80 byte, then zeros) to its
field's length in `PAD_TO` before it is sealed: every possible value of the fixed-form fields
(nationality, sex, dates, residence card number) and every valid name (at most 100 Latin
characters) seals to one length per field. 備考 is free text of up to 1,000 characters (up to
4,000 bytes): padding it to its maximum would grow a 300-person filing by 1.2 MB, so it is
padded to whole 256-byte blocks, which tells at most its rough length, never a value from a
short list.

Tokens written before padding (`key_id:nonce:ciphertext`, three parts) still open;
`needs_rotation` reports them, so `ens filing reencrypt` rewrites them padded.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from contracts.filing import Person
from services.filing.ports import TamperedCiphertext

PERSONAL_FIELDS: tuple[str, ...] = tuple(Person.model_fields)

FORMAT = "1"  # the padded format's tag, last part of each token and part of the associated data
PAD_TO: dict[str, int] = {
    "nationality": 16,
    "sex": 16,
    "date_of_birth": 16,
    "residence_card_number": 16,
    "event_date": 16,
    "name_latin": 128,
    "remarks": 256,
}
"""Bytes each field's plaintext is padded to; a longer value takes whole multiples of it."""
DEFAULT_PAD = 64  # a personal field added to the contract later


def pad(field: str, plain: bytes) -> bytes:
    block = PAD_TO.get(field, DEFAULT_PAD)
    size = block * -(-(len(plain) + 1) // block)
    return plain + b"\x80" + b"\x00" * (size - len(plain) - 1)


def unpad(padded: bytes) -> bytes:
    body = padded.rstrip(b"\x00")
    if not body.endswith(b"\x80"):
        raise ValueError("bad padding")
    return body[:-1]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class PersonCipher:
    """The `Cipher` port: AES-256-GCM per field; the last key of the ring writes."""

    def __init__(self, key_ring: Mapping[str, bytes]) -> None:
        if not key_ring:
            raise ValueError("the key ring is empty")
        self._keys = {key_id: AESGCM(material) for key_id, material in key_ring.items()}
        self.current_key_id = list(key_ring)[-1]

    @staticmethod
    def _aad(reception_number: str, index: int, field: str, padded: bool = True) -> bytes:
        if padded:
            return f"ens-filing|{FORMAT}|{reception_number}|{index}|{field}".encode()
        return f"ens-filing|{reception_number}|{index}|{field}".encode()

    def seal(self, reception_number: str, index: int, person: Person) -> dict[str, str]:
        """One person's fields as ciphertexts; absent optional fields stay absent."""
        data = person.model_dump(mode="json")
        aead = self._keys[self.current_key_id]
        sealed: dict[str, str] = {}
        for field in PERSONAL_FIELDS:
            value = data.get(field)
            if value is None:
                continue
            nonce = os.urandom(12)
            ct = aead.encrypt(nonce, pad(field, str(value).encode()), self._aad(reception_number, index, field))
            sealed[field] = f"{self.current_key_id}:{_b64(nonce)}:{_b64(ct)}:{FORMAT}"
        return sealed

    def open(self, reception_number: str, index: int, sealed: Mapping[str, str]) -> Person:
        values: dict[str, str] = {}
        for field, token in sealed.items():
            parts = token.split(":")
            padded = len(parts) == 4 and parts[3] == FORMAT
            if not (padded or len(parts) == 3):
                raise TamperedCiphertext(f"{reception_number} person {index} field {field}: not a ciphertext token")
            key_id, nonce_b64, ct_b64 = parts[:3]
            aead = self._keys.get(key_id)
            if aead is None:
                raise TamperedCiphertext(f"unknown key id {key_id!r} for {reception_number} person {index} {field}")
            try:
                plain = aead.decrypt(_unb64(nonce_b64), _unb64(ct_b64), self._aad(reception_number, index, field, padded))
                values[field] = (unpad(plain) if padded else plain).decode()
            except (InvalidTag, ValueError) as exc:
                raise TamperedCiphertext(f"{reception_number} person {index} field {field} does not open") from exc
        return Person.model_validate(values)

    def needs_rotation(self, sealed: Mapping[str, str]) -> bool:
        """Written under an older key, or before values were padded."""
        current = self.current_key_id + ":"
        return any(not token.startswith(current) or not token.endswith(":" + FORMAT) for token in sealed.values())
