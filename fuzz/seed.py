"""Writes each fuzz target's seed corpus (fuzz/seeds/<target>/) from the fixtures the tests
already use: real wire shapes to start mutating from. Run again after fixtures change."""

import hashlib
import json
import os
import struct

ROOT = os.path.join(os.path.dirname(__file__), "..")
FIX = os.path.join(ROOT, "tests", "billing-sim", "fixtures")
OUT = os.path.join(os.path.dirname(__file__), "seeds")


def put(target, data):
    folder = os.path.join(OUT, target)
    os.makedirs(folder, exist_ok=True)
    name = hashlib.sha1(data).hexdigest()
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


def fixture(*path):
    with open(os.path.join(FIX, *path), "rb") as f:
        return f.read()


for name in sorted(os.listdir(os.path.join(FIX, "maxio"))):
    if name.startswith("webhook_") and name.endswith(".txt"):
        put("maxio_webhook", fixture("maxio", name))
    elif name.startswith("invoice_") and name.endswith(".json"):
        doc = json.loads(fixture("maxio", name))
        put("maxio_invoice", json.dumps(doc.get("invoice", doc)).encode())

for name in sorted(os.listdir(os.path.join(FIX, "chargebee"))):
    if name.startswith("webhook_") and name.endswith(".json"):
        put("chargebee_webhook", fixture("chargebee", name))
    elif name.startswith("invoice_") and name.endswith(".json"):
        doc = json.loads(fixture("chargebee", name))
        put("chargebee_invoice", json.dumps(doc.get("invoice", doc)).encode())

tenants = os.path.join(ROOT, "infra", "tenants")
for name in sorted(os.listdir(tenants)):
    with open(os.path.join(tenants, name), "rb") as f:
        data = f.read()
    if "secrets" in name:
        for secret in json.loads(data).values():
            put("secrets", json.dumps(secret).encode())
    else:
        put("settings", data)

# Allocation: decimal places, a total, then parts (little-endian i64, parts with 6 places).
for decimals, total, parts in [
    (2, 4511, [11_175_000, 15_187_500, 18_750_000]),
    (0, 1000, [333_333_333, 333_333_333, 333_333_334]),
    (3, 1001, [500_500, 500_500]),
    (2, -3, [-15_000, -15_000]),
]:
    put("allocation", bytes([decimals]) + b"".join(struct.pack("<q", n) for n in [total] + parts))
