"""Encryption of codes at rest, with key rotation, and their keyed fingerprint.

AES-256-GCM with the code's fingerprint as associated data: a ciphertext copied onto another row
fails to decrypt instead of revealing the wrong code. Ciphertext layout: key id (8 bytes) | nonce
(12) | sealed. `KABAO_CODE_KEYS` lists keys newest first; the newest encrypts, any decrypts.
(django-fernet-encrypted-fields derives its key from SECRET_KEY and has no associated data,
hence this small helper on `cryptography`.)

A function that holds a code in clear and calls out (a library, the database) marks it with
`sensitive_variables`: a crash report (the DEBUG page, the email Django sends to ADMINS) shows
stars instead of the code.
"""

import base64
import hashlib
import hmac
import os
from functools import lru_cache

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.views.decorators.debug import sensitive_variables

from kabao.errors import DomainError

KEY_ID_BYTES = 8
NONCE_BYTES = 12


class CodeDecryptionError(DomainError):
    """A stored code cannot be read: its ciphertext was altered or moved to another row, or its key
    is no longer configured. The message says which, never the code."""

    def __init__(self, message: str):
        super().__init__("code_unreadable", message, status=409)


def _decode_key(text: str) -> bytes:
    raw = base64.urlsafe_b64decode(text.strip())
    if len(raw) != 32:
        raise ValueError("each KABAO_CODE_KEYS entry must be 32 bytes, urlsafe base64")
    return raw


@lru_cache(maxsize=8)
def _keys(joined: str) -> list[tuple[bytes, AESGCM]]:
    keys = []
    for text in joined.split(","):
        raw = _decode_key(text)
        keys.append((hashlib.sha256(raw).digest()[:KEY_ID_BYTES], AESGCM(raw)))
    return keys


def _configured_keys() -> list[tuple[bytes, AESGCM]]:
    return _keys(",".join(settings.KABAO_CODE_KEYS))


def normalize_code(code: str) -> str:
    return code.strip()


@sensitive_variables("code")
def code_fingerprint(code: str) -> str:
    """Keyed hash of a code: lets the platform refuse duplicates without comparing codes in clear."""
    key = settings.KABAO_CODE_HASH_KEY.encode()
    return hmac.new(key, normalize_code(code).encode(), hashlib.sha256).hexdigest()


@sensitive_variables("code")
def encrypt_code(code: str, *, fingerprint: str) -> bytes:
    key_id, aead = _configured_keys()[0]
    nonce = os.urandom(NONCE_BYTES)
    return key_id + nonce + aead.encrypt(nonce, normalize_code(code).encode(), fingerprint.encode())


def decrypt_code(ciphertext: bytes, *, fingerprint: str) -> str:
    blob = bytes(ciphertext)
    key_id, nonce, sealed = blob[:KEY_ID_BYTES], blob[KEY_ID_BYTES : KEY_ID_BYTES + NONCE_BYTES], blob[20:]
    for candidate_id, aead in _configured_keys():
        if candidate_id == key_id:
            try:
                return aead.decrypt(nonce, sealed, fingerprint.encode()).decode()
            except Exception as exc:  # InvalidTag: altered or moved ciphertext
                raise CodeDecryptionError(
                    "the code's ciphertext does not belong to its row (altered or moved)"
                ) from exc
    raise CodeDecryptionError("the code was encrypted with a key that is no longer configured")


def is_current_key(ciphertext: bytes) -> bool:
    return bytes(ciphertext)[:KEY_ID_BYTES] == _configured_keys()[0][0]


def mask_code(code: str) -> str:
    """What merchants, staff and the records show: enough to recognise a code, never enough to
    use it (at most 4 characters a side and under half the code; a 9-character code kept 8 before)."""
    code = normalize_code(code)
    if len(code) <= 4:
        return "…"
    shown = 1 if len(code) <= 8 else 2 if len(code) <= 16 else 4
    return f"{code[:shown]}…{code[-shown:]}"
