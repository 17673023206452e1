"""Verifies billsync's OAuth 2.0 client assertions with PyJWT and cryptography, an
implementation independent of billsync's signer and of the NetSuite simulator's verifier.

Reads a JSON list of cases on stdin: {"assertion", "public_key", "audience", "client_id",
"certificate_id", "algorithm"}. Prints a JSON list of {"valid": bool, "error": str|null,
"header": {...}, "claims": {...}}.
"""

import json
import sys

import jwt


def verify(case):
    try:
        header = jwt.get_unverified_header(case["assertion"])
        claims = jwt.decode(
            case["assertion"],
            case["public_key"],
            algorithms=[case["algorithm"]],
            audience=case["audience"],
            issuer=case["client_id"],
            options={"require": ["exp", "iat", "iss", "aud", "scope"]},
        )
        problems = []
        if header.get("typ") != "JWT":
            problems.append("typ is not JWT")
        if header.get("kid") != case["certificate_id"]:
            problems.append("kid is not the certificate id")
        if header.get("alg") != case["algorithm"]:
            problems.append("alg differs")
        if not 0 < claims["exp"] - claims["iat"] <= 3600:
            problems.append("exp is not within an hour of iat")
        return {
            "valid": not problems,
            "error": "; ".join(problems) or None,
            "header": header,
            "claims": claims,
        }
    except jwt.PyJWTError as e:
        return {"valid": False, "error": f"{type(e).__name__}: {e}", "header": None, "claims": None}


def main():
    cases = json.load(sys.stdin)
    json.dump([verify(c) for c in cases], sys.stdout)


if __name__ == "__main__":
    main()
