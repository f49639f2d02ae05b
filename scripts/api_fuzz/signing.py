"""Signed requests to the control center, in Python, byte for byte as
`wayfare_protocol::request_auth::sign_request` makes them and
`server/src/auth.rs` verifies them:

    WAYFARE-REQUEST-V1\\n{METHOD}\\n{path with query}\\n{timestamp ms}\\n{nonce}\\n{hex sha256(body)}

signed with Ed25519 by the device or terminal key; the headers
x-wayfare-key-id (device id, terminal id, or `register` for a device
registering its own key), x-wayfare-timestamp (Unix ms), x-wayfare-nonce
(16 random bytes, unpadded base64url) and x-wayfare-signature (unpadded
base64url). Also the funding provider's callback signature
(`wayfare-signature: t=<unix s>,v1=<hex HMAC-SHA256(secret, "t.body")>`).
"""

import base64
import hashlib
import hmac
import os
import time

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

HEADER_KEY_ID = "x-wayfare-key-id"
HEADER_TIMESTAMP = "x-wayfare-timestamp"
HEADER_NONCE = "x-wayfare-nonce"
HEADER_SIGNATURE = "x-wayfare-signature"
REGISTER_KEY_ID = "register"


def b64(data: bytes) -> str:
    """Unpadded base64url, as every binary value in the API."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Key:
    """An Ed25519 key pair (a phone's or a terminal's)."""

    def __init__(self, seed: bytes | None = None):
        self.private = (
            Ed25519PrivateKey.from_private_bytes(seed) if seed else Ed25519PrivateKey.generate()
        )

    @property
    def seed(self) -> bytes:
        from cryptography.hazmat.primitives.serialization import NoEncryption, PrivateFormat

        return self.private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())

    @property
    def public(self) -> str:
        raw = self.private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return b64(raw)

    def sign(self, message: bytes) -> bytes:
        return self.private.sign(message)


def canonical_request(method: str, path_and_query: str, timestamp_ms: int, nonce: str, body: bytes) -> bytes:
    return "WAYFARE-REQUEST-V1\n{}\n{}\n{}\n{}\n{}".format(
        method.upper(), path_and_query, timestamp_ms, nonce, hashlib.sha256(body).hexdigest()
    ).encode()


def signature_headers(key: Key, key_id: str, method: str, path_and_query: str, body: bytes) -> dict:
    """The four headers of one signed request (fresh timestamp and nonce)."""
    timestamp_ms = int(time.time() * 1000)
    nonce = b64(os.urandom(16))
    signature = key.sign(canonical_request(method, path_and_query, timestamp_ms, nonce, body))
    return {
        HEADER_KEY_ID: key_id,
        HEADER_TIMESTAMP: str(timestamp_ms),
        HEADER_NONCE: nonce,
        HEADER_SIGNATURE: b64(signature),
    }


def callback_signature(secret: str, body: bytes) -> str:
    """The funding provider's `wayfare-signature` header value."""
    t = int(time.time())
    mac = hmac.new(secret.encode(), str(t).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def body_bytes(body) -> bytes:
    if body is None:
        return b""
    if isinstance(body, str):
        return body.encode()
    return bytes(body)
