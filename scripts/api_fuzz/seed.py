"""Seeds a fresh control center for the API fuzz run (scripts/test-api-fuzz.sh)
and writes what the schemathesis hook and configuration need.

Usage: seed.py BASE_URL ADMIN_TOKEN_FILE CALLBACK_SECRET OUT_DIR

Creates, through the public API only:
  - rider: a registered device (Ed25519 key) with a wallet topped up from
    the sandbox; owner of the merchant
  - helper: a second registered device, the rider's guardian and the
    merchant's staff member (so guardian and staff operations have a
    counterpart)
  - merchant: a CNY merchant with a points rate
  - pos: a registered pos terminal (Ed25519 key) of the merchant; kiosk: a
    registered top_up terminal
  - a payment of the rider at the pos terminal (so a guardian alert), a
    pending checkout top-up, a closed billing day and a stored
    reconciliation
Writes OUT_DIR/state.json (ids and the private key seeds, for the hook) and
OUT_DIR/schemathesis.toml (dictionaries of those ids bound to the path and
body parameters that must name existing objects).
"""

import json
import os
import sys
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from signing import REGISTER_KEY_ID, Key, b64, payment_instruction, signature_headers  # noqa: E402


class Api:
    def __init__(self, base_url: str, admin_token: str):
        self.base_url = base_url.rstrip("/")
        self.admin_token = admin_token

    def call(self, method, path, body=None, headers=None, expect=(200, 201)):
        raw = json.dumps(body).encode() if body is not None else b""
        all_headers = {"content-type": "application/json"} if body is not None else {}
        all_headers.update(headers or {})
        req = urllib.request.Request(
            self.base_url + path, data=raw if body is not None else None, method=method, headers=all_headers
        )
        try:
            with urllib.request.urlopen(req, timeout=30) as answer:
                status, text = answer.status, answer.read()
        except urllib.error.HTTPError as refused:
            status, text = refused.code, refused.read()
        if status not in expect:
            raise RuntimeError(f"{method} {path}: {status} {text[:500]!r}")
        return json.loads(text) if text else None

    def admin(self, method, path, body=None, **kw):
        return self.call(method, path, body, {"authorization": f"Bearer {self.admin_token}"}, **kw)

    def signed(self, key: Key, key_id: str, method, path, body=None, extra=None, **kw):
        raw = json.dumps(body).encode() if body is not None else b""
        headers = signature_headers(key, key_id, method, path, raw)
        headers.update(extra or {})
        return self.call(method, path, body, headers, **kw)


def register_device(api: Api, name: str, phone: str):
    key = Key()
    answer = api.signed(
        key,
        REGISTER_KEY_ID,
        "POST",
        "/v1/devices",
        {"display_name": name, "device_key": key.public, "phone_number": phone, "currency": "CNY"},
    )
    return key, answer


def main():
    base_url, token_file, callback_secret, out_dir = sys.argv[1:5]
    with open(token_file) as f:
        api = Api(base_url, f.read().strip())

    rider_key, rider = register_device(api, "Fuzz Rider", "+8613800000001")
    helper_key, helper = register_device(api, "Fuzz Helper", "+8613800000002")
    api.admin(
        "POST",
        "/v1/sandbox/top-ups",
        {"account_id": rider["account_id"], "amount_minor": 500_000, "currency": "CNY", "reference": "fuzz-seed"},
    )
    merchant = api.admin("POST", "/v1/merchants", {"name": "Fuzz Cafe", "currency": "CNY", "fee_bps": 100})
    mid = merchant["merchant_id"]
    api.admin("POST", f"/v1/merchants/{mid}/owner", {"account_id": rider["account_id"], "locale": "en"})
    api.admin("PUT", f"/v1/admin/merchants/{mid}/points-rate", {"minor_per_point": 1, "max_share_bps": 5000})

    pos_key, kiosk_key = Key(), Key()
    pos = api.admin("POST", "/v1/terminals", {"merchant_id": mid, "kind": "pos", "terminal_key": pos_key.public})
    kiosk = api.admin(
        "POST", "/v1/terminals", {"merchant_id": mid, "kind": "top_up", "terminal_key": kiosk_key.public}
    )

    # The helper is the rider's guardian and the merchant's staff member.
    invitation = api.signed(
        rider_key, rider["device_id"], "POST", "/v1/guardians/invitations",
        {"scope": "all_payments", "shown_as": "nickname", "nickname": "Fuzz"},
    )
    binding = api.signed(
        helper_key, helper["device_id"], "POST", "/v1/guardians/invitations/accept", {"code": invitation["code"]}
    )
    staff_invitation = api.signed(
        rider_key, rider["device_id"], "POST", f"/v1/merchants/{mid}/invitations",
        {"operations": ["receive_prompts", "view_history"], "content": ["amount", "time"], "label": "till"},
    )
    member = api.signed(
        helper_key, helper["device_id"], "POST", "/v1/merchants/invitations/accept",
        {"code": staff_invitation["code"]},
    )

    # A payment at the pos terminal (the guardian gets an alert of it).
    instruction, idem = payment_instruction(
        rider_key, rider["device_id"], rider["account_id"], mid, pos["terminal_id"], "fuzz-seed-order", 1_000
    )
    payment = api.signed(
        rider_key, rider["device_id"], "POST", "/v1/payments", {"instruction": instruction},
        extra={"idempotency-key": idem},
    )

    top_up = api.signed(
        rider_key, rider["device_id"], "POST", "/v1/top-ups",
        {"provider": "card", "amount_minor": 1000, "currency": "CNY", "idempotency_key": "fuzz-seed-top-up"},
    )
    # A day that has ended everywhere: closed and reconciled.
    day = (datetime.now(timezone.utc) - timedelta(days=2)).strftime("%Y-%m-%d")
    export = api.admin("POST", "/v1/billing/exports", {"date": day, "utc_offset_minutes": 0})
    reconciliation = api.admin("POST", "/v1/billing/reconciliations", {"date": day, "entries": []})

    state = {
        "base_url": base_url,
        "admin_token": api.admin_token,
        "callback_secret": callback_secret,
        "rider": {"device_id": rider["device_id"], "account_id": rider["account_id"], "key": b64(rider_key.seed)},
        "helper": {"device_id": helper["device_id"], "account_id": helper["account_id"], "key": b64(helper_key.seed)},
        "merchant_id": mid,
        "merchant_account_id": merchant["account_id"],
        "pos": {"terminal_id": pos["terminal_id"], "key": b64(pos_key.seed)},
        "kiosk": {"terminal_id": kiosk["terminal_id"], "key": b64(kiosk_key.seed)},
        "binding_id": binding["binding_id"],
        "payment_id": payment["payment_id"],
        "payment_idempotency_key": idem,
        "member_id": member["member_id"],
        "top_up_reference": top_up["reference"],
        "export_id": export["export_id"],
        "reconciliation_id": reconciliation["reconciliation_id"],
        "day": day,
        "seeded_at_ms": int(time.time() * 1000),
    }
    with open(os.path.join(out_dir, "state.json"), "w") as f:
        json.dump(state, f, indent=2)

    dictionaries = {
        "merchant_ids": [mid],
        "member_ids": [member["member_id"]],
        "binding_ids": [binding["binding_id"]],
        "account_ids": [rider["account_id"], helper["account_id"], merchant["account_id"]],
        "device_ids": [helper["device_id"]],
        "terminal_ids": [pos["terminal_id"], kiosk["terminal_id"]],
        "export_ids": [export["export_id"]],
        "reconciliation_ids": [reconciliation["reconciliation_id"]],
        "top_up_references": [top_up["reference"]],
        "payment_ids": [payment["payment_id"]],
        "idempotency_keys": [idem],
        "order_ids": ["fuzz-seed-order"],
        "providers": ["card", "sandbox"],
        "currencies": ["CNY"],
        "days": [day],
    }
    bindings = {
        "path.merchant_id": "merchant_ids",
        "path.member_id": "member_ids",
        "path.binding_id": "binding_ids",
        "path.account_id": "account_ids",
        "path.terminal_id": "terminal_ids",
        "path.export_id": "export_ids",
        "path.reconciliation_id": "reconciliation_ids",
        "path.reference": "top_up_references",
        "path.provider": "providers",
        "path.idempotency_key": "idempotency_keys",
        "body.payment_id": "payment_ids",
        "body.order_id": "order_ids",
        "body.reference": "top_up_references",
        "body.provider": "providers",
        "body.merchant_id": "merchant_ids",
        "body.account_id": "account_ids",
        "body.device_id": "device_ids",
        "body.currency": "currencies",
    }
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "schemathesis.toml")) as f:
        base = f.read()
    lines = [base.rstrip(), "", "# Written by seed.py: ids of the objects it created.", ""]
    for name, values in dictionaries.items():
        lines.append(f"[dictionaries.{name}]")
        lines.append("values = " + json.dumps(values))
        lines.append("")
    lines.append("[parameters]")
    for key, name in bindings.items():
        lines.append(f'"{key}" = {{ dictionary = "{name}", probability = 0.75 }}')
    with open(os.path.join(out_dir, "schemathesis.toml"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"seeded: merchant {mid}, devices {rider['device_id']} {helper['device_id']}, "
          f"terminals {pos['terminal_id']} {kiosk['terminal_id']}")


if __name__ == "__main__":
    main()
