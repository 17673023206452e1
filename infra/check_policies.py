"""Fails when a function's IAM policy in template.yaml grants a wildcard data-plane action or
resource. Run by the test command after cfn-lint.

A resource may end in `*` only after a fixed prefix (e.g. `secret:${SecretPrefix}*`, since
Secrets Manager appends a random suffix to secret ARNs); a bare `*`, a `service:*` action, or a
managed policy by name are refused.
"""

import sys

from cfnlint.decode import decode_str


def resource_text(value):
    """The literal text of a Resource entry, whatever intrinsic wraps it."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        if "Fn::Sub" in value:
            sub = value["Fn::Sub"]
            return sub if isinstance(sub, str) else sub[0]
        if "Fn::GetAtt" in value or "Ref" in value:
            return "<resolved>"
        if "Fn::Join" in value:
            return "".join(str(p) if isinstance(p, str) else "x" for p in value["Fn::Join"][1])
    return str(value)


def problems_in(template):
    problems, checked = [], 0
    for name, res in template.get("Resources", {}).items():
        if res.get("Type") != "AWS::Serverless::Function":
            continue
        for policy in res.get("Properties", {}).get("Policies", []) or []:
            if isinstance(policy, str):
                problems.append(f"{name}: managed policy {policy} is not least-privilege")
                continue
            if not isinstance(policy, dict) or "Statement" not in policy:
                problems.append(f"{name}: policy template {list(policy)} hides its actions; write the statement")
                continue
            for st in policy["Statement"]:
                checked += 1
                actions = st.get("Action", [])
                actions = [actions] if isinstance(actions, str) else actions
                for a in actions:
                    if a == "*" or a.endswith(":*"):
                        problems.append(f"{name}: wildcard action {a}")
                resources = st.get("Resource", [])
                resources = resources if isinstance(resources, list) else [resources]
                for r in resources:
                    text = resource_text(r)
                    last = text.replace("/", ":").split(":")[-1]
                    if text == "*" or last == "*":
                        problems.append(f"{name}: wildcard resource {text}")
    return problems, checked


SELF_TEST = """
Resources:
  Bad:
    Type: AWS::Serverless::Function
    Properties:
      Policies:
        - AmazonDynamoDBFullAccess
        - Statement:
            - Effect: Allow
              Action: ["dynamodb:*"]
              Resource: "*"
"""


def main(path):
    bad, _ = problems_in(decode_str(SELF_TEST)[0])
    assert len(bad) == 3, f"the checker missed a planted wildcard: {bad}"
    with open(path) as f:
        template, matches = decode_str(f.read())
    if matches:
        print(f"cannot read {path}: {matches}")
        return 1
    problems, checked = problems_in(template)
    for p in problems:
        print(p)
    print(f"policy check: {checked} statements, {len(problems)} wildcard problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "template.yaml"))
