"""Ed25519 signatures over manifest.json, with the ``cryptography`` package.

The signature (64 raw bytes, base64) goes into ``manifest.json.sig`` beside
the manifest; the manifest lists every other file's sha256, so a valid
signature covers the whole bundle. Keys are PEM: a PKCS#8 private key
(``edgec keygen`` or ``openssl genpkey -algorithm ed25519 -out key.pem``) and
its SubjectPublicKeyInfo public key (``openssl pkey -in key.pem -pubout``).
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from edgec.errors import SignatureError, UsageError

SIGNATURE_SUFFIX = ".sig"


def _read_key(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise UsageError(f"{what} '{path}': cannot read it ({exc.strerror})") from exc


def load_private_key(path: Path) -> Ed25519PrivateKey:
    data = _read_key(path, "--sign-key")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise UsageError(
            f"--sign-key '{path}': not an unencrypted PEM private key ({exc}); make one with `edgec keygen`"
        ) from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise UsageError(f"--sign-key '{path}': not an Ed25519 key; make one with `edgec keygen`")
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    data = _read_key(path, "--public-key")
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as exc:
        raise UsageError(f"--public-key '{path}': not a PEM public key ({exc})") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise UsageError(f"--public-key '{path}': not an Ed25519 public key")
    return key


def signature_path(manifest: Path) -> Path:
    return manifest.with_name(manifest.name + SIGNATURE_SUFFIX)


def sign(manifest: Path, private_key: Path) -> Path:
    """Write ``manifest``'s Ed25519 signature beside it; Ed25519 is deterministic, so is the file."""
    signature = load_private_key(private_key).sign(manifest.read_bytes())
    target = signature_path(manifest)
    target.write_text(base64.b64encode(signature).decode("ascii") + "\n", encoding="ascii")
    return target


def check(manifest: Path, public_key: Path) -> None:
    """SignatureError unless ``manifest``'s signature file holds a valid signature by ``public_key``."""
    key = load_public_key(public_key)
    sig_file = signature_path(manifest)
    if not sig_file.is_file():
        raise SignatureError(f"{sig_file}: missing; the bundle is not signed")
    try:
        signature = base64.b64decode(sig_file.read_text(encoding="ascii").strip(), validate=True)
        key.verify(signature, manifest.read_bytes())
    except (InvalidSignature, ValueError) as exc:
        raise SignatureError(
            f"{sig_file}: the signature does not match {manifest.name} under public key '{public_key}' "
            f"(a different key, or the manifest or signature changed)"
        ) from exc


def keygen(private_out: Path, public_out: Path) -> None:
    """A new Ed25519 key pair as PEM files; the private key readable by its owner only."""
    for path in (private_out, public_out):
        if path.exists():
            raise UsageError(f"'{path}' already exists; choose another name or remove it")
    key = Ed25519PrivateKey.generate()
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    fd = os.open(private_out, os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o600)
    with open(fd, "wb") as handle:
        handle.write(private_pem)
    public_out.write_bytes(public_pem)
