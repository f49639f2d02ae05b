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


# --- Signed protocol objects (COSE_Sign1 over CBOR), for payments ---------
#
# As wayfare_protocol::signed::sign makes them (coset + ciborium): the
# untagged array [protected, {}, payload, signature], the protected header
# {1: -8 (EdDSA), 4: key id}, the payload the body's CBOR map (fields in
# declaration order, None as null), the Ed25519 signature over the
# Sig_structure ["Signature1", protected, purpose, payload].

PAYMENT_PURPOSE = b"wayfare/payment-instruction/v1"
PROTOCOL_VERSION = 1


def _cbor_head(major: int, n: int) -> bytes:
    if n < 24:
        return bytes([major << 5 | n])
    for info, size in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if n < 1 << (8 * size):
            return bytes([major << 5 | info]) + n.to_bytes(size, "big")
    raise ValueError("integer too large for CBOR")


def cbor(value) -> bytes:
    """Minimal CBOR: what the protocol's bodies use (no floats)."""
    if value is None:
        return b"\xf6"
    if isinstance(value, bool):
        return b"\xf5" if value else b"\xf4"
    if isinstance(value, int):
        return _cbor_head(0, value) if value >= 0 else _cbor_head(1, -1 - value)
    if isinstance(value, bytes):
        return _cbor_head(2, len(value)) + value
    if isinstance(value, str):
        raw = value.encode()
        return _cbor_head(3, len(raw)) + raw
    if isinstance(value, list):
        return _cbor_head(4, len(value)) + b"".join(cbor(v) for v in value)
    if isinstance(value, dict):
        return _cbor_head(5, len(value)) + b"".join(cbor(k) + cbor(v) for k, v in value.items())
    raise TypeError(f"no CBOR for {type(value)}")


def cose_sign1(key: Key, purpose: bytes, body: dict) -> bytes:
    payload = cbor(body)
    public = base64.urlsafe_b64decode(key.public + "=")
    key_id = hashlib.sha256(public).hexdigest()[:16].encode()
    protected = cbor({1: -8, 4: key_id})
    signature = key.sign(cbor(["Signature1", protected, purpose, payload]))
    return cbor([protected, {}, payload, signature])


def payment_idempotency_key(account_id: str, terminal_id: str, order_id: str) -> str:
    """wayfare_protocol::ids::payment_idempotency_key."""
    material = b"".join(len(p.encode()).to_bytes(4, "big") + p.encode() for p in (account_id, terminal_id, order_id))
    return "idem_" + hashlib.sha256(material).hexdigest()[:32]


def payment_instruction(
    key: Key, device_id: str, account_id: str, merchant_id: str, terminal_id: str, order_id: str,
    amount_minor: int, currency: str = "CNY",
) -> tuple[str, str]:
    """A device-signed PaymentInstruction (base64url) and its idempotency key."""
    now = int(time.time() * 1000)
    idem = payment_idempotency_key(account_id, terminal_id, order_id)
    body = {
        "version": PROTOCOL_VERSION,
        "account_id": account_id,
        "device_id": device_id,
        "idempotency_key": idem,
        "order_id": order_id,
        "merchant_id": merchant_id,
        "terminal_id": terminal_id,
        "amount_minor": amount_minor,
        "currency": currency,
        "description": "API fuzz",
        "fare": None,
        "expires_at_ms": now + 120_000,
        "signed_at_ms": now,
    }
    return b64(cose_sign1(key, PAYMENT_PURPOSE, body)), idem
