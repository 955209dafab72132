"""The key a city signs with — publications, exports, messages to peer cities: Ed25519, checked with the
public key alone.

HMAC would need the verifier to hold the secret; a signature lets a citizen, a journalist or the city's
data exchange platform check that a downloaded month is the one the platform published. The private key
lives in the data directory, one per city (mode 600, made on first use, as the token secret is); each
publication stores the public key it was signed with, so a later key change never orphans a past month.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from spatial.errors import ConfigurationError
from spatial.private_file import private_once

KEYS = "keys"


def _new_pem() -> bytes:
    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def signing_key(data_dir: Path, city: str) -> Ed25519PrivateKey:
    """``city``'s key from ``data_dir``, made (mode 600) when there is none yet: one per city, because one
    data directory may serve several cities, and each signs as itself (its publications, its exports, its
    messages to peer cities)."""
    path = data_dir / KEYS / f"{city}.ed25519.pem"
    pem = private_once(path, _new_pem)
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigurationError(f"{path} is not an Ed25519 private key")
    return key


def public_pem(key: Ed25519PrivateKey) -> str:
    """The public half, as PEM text (what a publication stores and the public page serves)."""
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def key_id(pem: str) -> str:
    """A short name for a public key: the first 16 hex digits of the SHA-256 of its PEM."""
    return hashlib.sha256(pem.encode()).hexdigest()[:16]


def signature_holds(pem: str, message: bytes, signature: bytes) -> bool:
    """Whether ``signature`` is the key's signature of ``message``."""
    public = serialization.load_pem_public_key(pem.encode())
    if not isinstance(public, Ed25519PublicKey):
        return False
    try:
        public.verify(signature, message)
    except InvalidSignature:
        return False
    return True
