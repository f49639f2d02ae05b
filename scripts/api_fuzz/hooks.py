"""schemathesis hooks for the Wayfare control center (SCHEMATHESIS_HOOKS=hooks).

Every operation gets the credential its `security` names, so none stops at
401 for want of one:
  - adminToken: `authorization: Bearer <the operator token>`
  - deviceSignature / terminalSignature: the request is signed exactly as
    `wayfare_protocol::request_auth::sign_request` signs it, over the bytes
    that go on the wire (a `requests` auth object sees the prepared request:
    method, path with query as sent, body after serialization), by a device
    or terminal the seed registered (scripts/api_fuzz/seed.py)
  - POST /v1/devices: signed with key id `register` by a fresh key, which
    replaces the generated `device_key` when that one is well formed (proof
    of possession: the server verifies with the key in the body)
  - the funding provider's callback: `wayfare-signature` is the HMAC the
    seeded checkout provider's secret makes over the exact body
A schema-valid POST /v1/payments gets a real instruction (the rider's, signed,
1 minor unit, a fresh order) and its idempotency key; the other signed
objects (kiosk offers and claims, registration consents, express taps) stay
as generated. A credential the generator removed on purpose (a negative case testing a
missing security parameter or header) is left out.

Which seeded identity signs: the rider (owner of the merchant, wallet with
money) unless the operation is one a counterpart does: accepting an
invitation, leaving a binding or setting a guardian's limit (the helper
device, the rider's guardian and the merchant's staff); the top_up terminal
for kiosk top-up confirmations, the pos terminal otherwise.
"""

import json
import os
import re
import sys
from collections.abc import MutableMapping

import requests
import schemathesis
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation.meta import negated_parameters

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from signing import (  # noqa: E402
    HEADER_SIGNATURE,
    REGISTER_KEY_ID,
    Key,
    body_bytes,
    callback_signature,
    payment_instruction,
    signature_headers,
    unb64,
)

with open(os.environ["WAYFARE_FUZZ_STATE"]) as _f:
    STATE = json.load(_f)

RIDER = (STATE["rider"]["device_id"], Key(unb64(STATE["rider"]["key"])))
HELPER = (STATE["helper"]["device_id"], Key(unb64(STATE["helper"]["key"])))
POS = (STATE["pos"]["terminal_id"], Key(unb64(STATE["pos"]["key"])))
KIOSK = (STATE["kiosk"]["terminal_id"], Key(unb64(STATE["kiosk"]["key"])))

# Operations the counterpart (guardian / staff device) calls.
HELPER_OPERATIONS = {
    "acceptGuardianInvitation",
    "leaveGuardianBinding",
    "setGuardianLimit",
    "acceptStaffInvitation",
}
KIOSK_OPERATIONS = {"confirmKioskTopUp"}
PUBLIC_KEY = re.compile(r"^[A-Za-z0-9_-]{43}$")


class SignedRequest(requests.auth.AuthBase):
    """Signs the prepared request (the exact bytes sent) as a device or terminal."""

    def __init__(self, key_id: str, key: Key):
        self.key_id = key_id
        self.key = key

    def __call__(self, r):
        r.headers.update(signature_headers(self.key, self.key_id, r.method, r.path_url, body_bytes(r.body)))
        return r


class CallbackSigned(requests.auth.AuthBase):
    """The funding provider's HMAC over the exact body."""

    def __call__(self, r):
        r.headers["wayfare-signature"] = callback_signature(STATE["callback_secret"], body_bytes(r.body))
        return r


def _schemes(operation) -> set:
    security = operation.definition.raw.get("security") or []
    return {name for requirement in security for name in requirement}


def _negated(case, name: str, location: ParameterLocation) -> bool:
    return (name, location) in negated_parameters(case.meta)


_orders = iter(range(1, 1 << 62))


def _real_instruction(case) -> None:
    """A schema-valid payment request gets a real instruction: the rider's,
    signed, for a fresh order of 1 minor unit at the seeded pos terminal, and
    the idempotency-key header that goes with it. Negative cases keep what
    was generated (they must be refused as they are)."""
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive:
        return
    if not isinstance(case.body, MutableMapping) or not isinstance(case.body.get("instruction"), str):
        return
    if not isinstance(case.headers, MutableMapping) or "idempotency-key" not in case.headers:
        return
    order_id = f"fuzz-{STATE['seeded_at_ms']}-{next(_orders)}"
    instruction, idem = payment_instruction(
        RIDER[1], RIDER[0], STATE["rider"]["account_id"], STATE["merchant_id"], STATE["pos"]["terminal_id"],
        order_id, 1,
    )
    case.body["instruction"] = instruction
    case.headers["idempotency-key"] = idem


@schemathesis.auth(refresh_interval=None)
class WayfareAuth:
    def get(self, case, ctx):
        operation = ctx.operation
        op_id = operation.definition.raw.get("operationId")
        schemes = _schemes(operation)
        if "adminToken" in schemes:
            return ("admin",)
        if "deviceSignature" in schemes:
            if op_id == "registerDevice":
                return ("register",)
            return ("device",) + (HELPER if op_id in HELPER_OPERATIONS else RIDER)
        if "terminalSignature" in schemes:
            return ("terminal",) + (KIOSK if op_id in KIOSK_OPERATIONS else POS)
        if op_id == "fundingCallback" and not _negated(case, "wayfare-signature", ParameterLocation.HEADER):
            return ("callback",)
        return None

    def set(self, case, data, ctx):
        kind = data[0]
        if kind == "admin":
            if not isinstance(case.headers, MutableMapping):
                case.headers = {}
            case.headers["Authorization"] = f"Bearer {STATE['admin_token']}"
        elif kind == "register":
            key = Key()
            body = case.body
            if isinstance(body, MutableMapping) and isinstance(body.get("device_key"), str) and PUBLIC_KEY.match(
                body["device_key"]
            ):
                body["device_key"] = key.public
            case._auth = SignedRequest(REGISTER_KEY_ID, key)
        elif kind in ("device", "terminal"):
            case._auth = SignedRequest(data[1], data[2])
            if ctx.operation.definition.raw.get("operationId") == "createPayment":
                _real_instruction(case)
        elif kind == "callback":
            case._auth = CallbackSigned()
        # The declared credential header holds a placeholder the auth object
        # replaces on the wire: the case then validates against the
        # schema (which requires the header) as what was really sent.
        if kind in ("register", "device", "terminal", "callback"):
            if not isinstance(case.headers, MutableMapping):
                case.headers = {}
            name = "wayfare-signature" if kind == "callback" else HEADER_SIGNATURE
            case.headers[name] = "signed-when-sent"
