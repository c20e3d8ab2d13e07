"""The public-key file: which keyIds may sign OCI requests, and with which RSA keys.

A YAML (or JSON) mapping of keyId to PEM public key::

    ocid1.tenancy.oc1..aaa/ocid1.user.oc1..bbb/12:34:...:ef: |
      -----BEGIN PUBLIC KEY-----
      ...
      -----END PUBLIC KEY-----
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

import yaml
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from gateway.errors import ConfigError
from gateway.oci.signing import fingerprint


def load_keys(path: Path) -> Mapping[str, RSAPublicKey]:
    """The keys in ``path`` by keyId; ConfigError names the file and keyId of any problem."""
    try:
        document = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path} not found") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: cannot read: {error}") from None
    except (yaml.YAMLError, ValueError, RecursionError) as error:
        # PyYAML raises ValueError for a value it took for a date or number but
        # cannot build (2001-02-30), RecursionError for very deep nesting.
        raise ConfigError(f"{path}: not valid YAML: {error}") from None
    if not isinstance(document, dict):
        found = "nothing" if document is None else type(document).__name__
        raise ConfigError(f"{path}: expected a mapping of keyId to PEM public key, found {found}")
    if not document:
        # A file that lets nobody in is surely a mistake, not a policy.
        raise ConfigError(f"{path}: names no keys")
    return MappingProxyType(
        {_key_id(path, key_id): _public_key(path, key_id, pem) for key_id, pem in document.items()}
    )


def _key_id(path: Path, key_id: object) -> str:
    if not isinstance(key_id, str) or not key_id:
        raise ConfigError(f"{path}: keyId {key_id!r} is not a non-empty string")
    return key_id


def _public_key(path: Path, key_id: object, pem: object) -> RSAPublicKey:
    where = f"{path}: {key_id}"
    if not isinstance(pem, str):
        raise ConfigError(f"{where}: expected a PEM public key string, found {type(pem).__name__}")
    if "PRIVATE KEY-----" in pem:
        raise ConfigError(f"{where}: is a private key; give its public half (openssl rsa -pubout)")
    try:
        # Reads both SubjectPublicKeyInfo ("PUBLIC KEY") and PKCS#1 ("RSA PUBLIC KEY").
        key = load_pem_public_key(pem.strip().encode())
    except (ValueError, UnsupportedAlgorithm) as error:
        raise ConfigError(f"{where}: not a PEM public key: {error}") from None
    if not isinstance(key, RSAPublicKey):
        raise ConfigError(f"{where}: {type(key).__name__} is not RSA; OCI API keys are RSA")
    # keyIds are tenancy/user/fingerprint: a mismatch is a key pasted under the wrong id.
    parts = str(key_id).split("/")
    if len(parts) == 3 and parts[2].lower() != fingerprint(key):
        raise ConfigError(
            f"{where}: keyId names fingerprint {parts[2]}, but the key's is {fingerprint(key)}"
        )
    return key
