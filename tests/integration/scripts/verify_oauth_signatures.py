"""Verifies OAuth 1.0a HMAC-SHA256 signatures with oauthlib, an implementation independent of
billsync's signer and of the NetSuite simulator's verifier.

Reads a JSON list of cases on stdin: {"method", "url", "authorization", "consumer_secret",
"token_secret"}. Prints a JSON list of {"valid": bool, "realm": str, "method": str}.
"""

import json
import sys
from urllib.parse import urlparse

from oauthlib.common import Request
from oauthlib.oauth1.rfc5849 import signature, utils


def verify(case):
    header = case["authorization"]
    params = utils.parse_authorization_header(header)
    fields = dict(params)
    request = Request(case["url"], http_method=case["method"], headers={"Authorization": header})
    # Query parameters and header parameters are signed; realm and the signature are not.
    request.params = signature.collect_parameters(
        uri_query=urlparse(case["url"]).query,
        headers={"Authorization": header},
        exclude_oauth_signature=True,
        with_realm=False,
    )
    # Header values are percent-encoded on the wire.
    request.signature = utils.unescape(fields["oauth_signature"])
    valid = signature.verify_hmac_sha256(
        request,
        client_secret=case["consumer_secret"],
        resource_owner_secret=case["token_secret"],
    )
    return {
        "valid": bool(valid),
        "realm": fields.get("realm", ""),
        "method": fields.get("oauth_signature_method", ""),
    }


def main():
    cases = json.load(sys.stdin)
    json.dump([verify(c) for c in cases], sys.stdout)


if __name__ == "__main__":
    main()
