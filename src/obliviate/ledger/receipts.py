"""Signed deletion receipts: ed25519 (the `cryptography` package) over the canonical JSON of what was done.

    key = load_or_create_key("~/.obliviate/receipt-key.pem")     # 0600, created on first use; KEY.pub beside it
    receipt = sign(payload, key)                                  # {"payload", "signature", "public_key", ...}
    verify(receipt, model_folder="runs/npo/model", public_key=pub)   # raises VerificationError with the reason

Canonical JSON: keys sorted, no spaces, UTF-8 (`canonical`). Verification checks, in order: the receipt's shape,
that its key is the trusted one (a receipt re-signed with another key is refused), the signature over the
payload, and that the model folder hashes (ledger.hashing.model_sha256) to the payload's "after" hash.
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from obliviate.errors import ObliviateError

ALGORITHM = "ed25519"
RECEIPT_VERSION = 1
DEFAULT_KEY = Path("~/.obliviate/receipt-key.pem")


class VerificationError(ObliviateError):
    """A receipt or model that does not verify; the message says which check failed."""


def canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def key_path(path: str | os.PathLike | None = None) -> Path:
    return Path(path or os.environ.get("OBLIVIATE_RECEIPT_KEY") or DEFAULT_KEY).expanduser()


def load_or_create_key(path: str | os.PathLike | None = None):
    """The ed25519 private key at `path` (PEM, PKCS8, unencrypted); created atomically with mode 0600 when missing,
    with its public key written beside it as PATH.pub. A key file readable by others is refused."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    path = key_path(path)
    if not path.exists():
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-", dir=path.parent)  # mkstemp: mode 0600
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(pem)
            try:
                os.link(tmp, path)  # atomic and exclusive: if another process made the key first, use theirs
            except FileExistsError:
                pass
        finally:
            os.unlink(tmp)
        if not path.with_name(path.name + ".pub").exists():
            _write_public(path, _load_private(path))
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise ObliviateError(f"{path}: receipt signing key is readable by others (mode {oct(mode)}); "
                             f"run chmod 600 {path}")
    return _load_private(path)


def _load_private(path: Path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError) as e:
        raise ObliviateError(f"{path}: not an unencrypted PEM private key ({e})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ObliviateError(f"{path}: the receipt key must be ed25519, got {type(key).__name__}")
    return key


def _write_public(path: Path, key) -> None:
    from obliviate._atomic import atomic_write_text

    atomic_write_text(path.with_name(path.name + ".pub"), public_b64(key) + "\n")


def public_b64(key) -> str:
    """Base64 of the raw 32-byte public key of a private (or public) ed25519 key."""
    from cryptography.hazmat.primitives import serialization

    pub = key.public_key() if hasattr(key, "public_key") else key
    raw = pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def key_id(public: str) -> str:
    return hashlib.sha256(base64.b64decode(public)).hexdigest()


def sign(payload: dict[str, Any], key) -> dict[str, Any]:
    """The receipt: the payload, its signature over canonical(payload), the public key and its id."""
    public = public_b64(key)
    return {"receipt_version": RECEIPT_VERSION, "algorithm": ALGORITHM, "key_id": key_id(public),
            "public_key": public, "signature": base64.b64encode(key.sign(canonical(payload))).decode(),
            "payload": payload}


def read_receipt(path: str | os.PathLike) -> dict[str, Any]:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: receipt not found")
    try:
        receipt = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise VerificationError(f"{path}: not a JSON receipt ({e})") from None
    return receipt


def trusted_public_key(public_key: str | None = None, key: str | os.PathLike | None = None) -> str:
    """The base64 public key to trust: given, or read from a .pub file, or the signing key's own."""
    if public_key:
        p = Path(public_key).expanduser()
        return p.read_text(encoding="utf-8").strip() if p.exists() else public_key.strip()
    path = key_path(key)
    pub = path.with_name(path.name + ".pub")
    if pub.exists():
        return pub.read_text(encoding="utf-8").strip()
    if path.exists():
        return public_b64(_load_private(path))
    raise VerificationError(f"no trusted public key: pass --public-key FILE (the ledger's {pub.name}) or --key")


def verify(receipt: dict[str, Any], model_folder: str | os.PathLike | None, trusted: str) -> dict[str, Any]:
    """Check a receipt (see the module docstring); returns its payload, or raises VerificationError."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from .hashing import model_sha256

    missing = [k for k in ("algorithm", "public_key", "signature", "payload") if k not in receipt]
    if missing or receipt.get("algorithm") != ALGORITHM:
        raise VerificationError(f"malformed receipt: missing {missing} or algorithm not {ALGORITHM}")
    if receipt["public_key"] != trusted:
        raise VerificationError(f"receipt signed by an untrusted key (key id {receipt.get('key_id', '?')[:16]}…, "
                                f"trusted {key_id(trusted)[:16]}…)")
    try:
        pub = Ed25519PublicKey.from_public_bytes(base64.b64decode(trusted))
        pub.verify(base64.b64decode(receipt["signature"]), canonical(receipt["payload"]))
    except (InvalidSignature, ValueError):
        raise VerificationError("signature does not match the payload: the receipt was altered after signing") \
            from None
    payload = receipt["payload"]
    if model_folder is not None:
        expected = (payload.get("run") or {}).get("model_after_sha256")
        actual = model_sha256(model_folder)
        if actual != expected:
            raise VerificationError(f"{model_folder}: model hash {actual[:16]}… does not match the receipt's "
                                    f"after hash {str(expected)[:16]}…: not the model this receipt covers, or "
                                    "modified since")
    return payload
