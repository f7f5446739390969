"""Field-wise authenticated encryption of the persons' personal data (SPEC §2 Protection).

Each personal field is its own AES-256-GCM ciphertext, written `key_id:nonce:ciphertext`
(base64url), so keys can rotate: the key id says which key of the ring opens it, and the
last key of the ring writes. The associated data binds a ciphertext to its filing, its
person's position and its field: a ciphertext moved to another filing, person or field does
not open, and neither does one with a flipped byte.
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
    def _aad(reception_number: str, index: int, field: str) -> bytes:
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
            ct = aead.encrypt(nonce, str(value).encode(), self._aad(reception_number, index, field))
            sealed[field] = f"{self.current_key_id}:{_b64(nonce)}:{_b64(ct)}"
        return sealed

    def open(self, reception_number: str, index: int, sealed: Mapping[str, str]) -> Person:
        values: dict[str, str] = {}
        for field, token in sealed.items():
            key_id, _, rest = token.partition(":")
            nonce_b64, _, ct_b64 = rest.partition(":")
            aead = self._keys.get(key_id)
            if aead is None:
                raise TamperedCiphertext(f"unknown key id {key_id!r} for {reception_number} person {index} {field}")
            try:
                plain = aead.decrypt(_unb64(nonce_b64), _unb64(ct_b64), self._aad(reception_number, index, field))
            except (InvalidTag, ValueError) as exc:
                raise TamperedCiphertext(f"{reception_number} person {index} field {field} does not open") from exc
            values[field] = plain.decode()
        return Person.model_validate(values)

    def needs_rotation(self, sealed: Mapping[str, str]) -> bool:
        return any(not token.startswith(self.current_key_id + ":") for token in sealed.values())
