"""Fails when an IAM role of template.yaml, as AWS deploys it, grants more than billsync calls.
Run by the test command after cfn-lint.

The template is first run through the SAM translator (PyPI aws-sam-translator), as
CloudFormation's AWS::Serverless transform does, because SAM adds to each function's role what
the template never shows: managed policies for logs, X-Ray and SQS polling whose actions and
resources are wildcards. Every role of the result is checked:

- no managed policy (their documents are AWS's to change; a role says what it may do itself);
- no wildcard action (`*`, `service:*`);
- no wildcard resource, except after a fixed prefix (`secret:${SecretPrefix}*` or a path under
  it, since Secrets Manager appends a random suffix to secret ARNs; `log-group:<name>:*`, the streams of one
  named log group) and for the X-Ray calls, which have no resource-level permissions.

The `SecretPrefix` parameter must carry an AllowedPattern that refuses an empty prefix (which
would grant `secret:*`).

The role of a function the internet reaches (an HttpApi or Api event) is held tighter: each of
its DynamoDB statements must carry a `dynamodb:LeadingKeys` condition (so it cannot touch the
partitions of settings and flows), and it may read only secrets under `${SecretPrefix}webhook/`
(never the NetSuite and billing API credentials).
"""

import copy
import os
import re
import sys

from cfnlint.decode import decode_str

# X-Ray's trace upload has no resource-level permissions: AWS documents Resource "*".
ANY_RESOURCE_ALLOWED = {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}


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


def listed(value):
    return value if isinstance(value, list) else [value]


def wildcard_resource(text):
    if text == "*":
        return True
    if re.search(r":log-group:[^*:]+:\*$", text):
        return False
    # Secret ARNs end in a random suffix: a fixed name or path then `*` names what it starts.
    if re.search(r":secret:[^*]+\*$", text):
        return False
    return text.replace("/", ":").split(":")[-1] == "*"


def translate(template):
    """The template as the AWS::Serverless transform makes it (code locations as `sam deploy`
    writes them)."""
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    from samtranslator.translator.transform import transform

    class NoManagedPolicies:
        def load(self):
            return {}

    packaged = copy.deepcopy(template)
    for res in packaged.get("Resources", {}).values():
        if res.get("Type") == "AWS::Serverless::Function":
            res.setdefault("Properties", {})["CodeUri"] = "s3://bucket/billsync.zip"
    params = {"AWS::Region": "us-east-1", "AWS::AccountId": "123456789012", "AWS::Partition": "aws"}
    return transform(packaged, params, NoManagedPolicies())


def problems_in(template):
    """Problems of an already translated template: (problems, statements checked)."""
    problems, checked = [], 0
    for name, res in template.get("Resources", {}).items():
        if res.get("Type") != "AWS::IAM::Role":
            continue
        props = res.get("Properties", {})
        for arn in props.get("ManagedPolicyArns", []) or []:
            problems.append(f"{name}: managed policy {resource_text(arn)} (write the statements the function needs)")
        for policy in props.get("Policies", []) or []:
            for st in policy.get("PolicyDocument", {}).get("Statement", []):
                checked += 1
                actions = listed(st.get("Action", []))
                for a in actions:
                    if a == "*" or a.endswith(":*"):
                        problems.append(f"{name}: wildcard action {a}")
                for r in listed(st.get("Resource", [])):
                    text = resource_text(r)
                    if wildcard_resource(text) and not set(actions) <= ANY_RESOURCE_ALLOWED:
                        problems.append(f"{name}: wildcard resource {text} for {actions}")
    return problems, checked


PUBLIC_EVENTS = {"HttpApi", "Api"}
PUBLIC_SECRETS = "secret:${SecretPrefix}webhook/"


def public_roles(template):
    """Names of the roles of functions reached from the internet, as in the translated template
    (an explicit `Role: !GetAtt X.Arn`, else the `<Function>Role` SAM makes)."""
    roles = []
    for name, res in template.get("Resources", {}).items():
        if res.get("Type") != "AWS::Serverless::Function":
            continue
        props = res.get("Properties", {})
        events = (props.get("Events") or {}).values()
        if not any(e.get("Type") in PUBLIC_EVENTS for e in events):
            continue
        role = props.get("Role")
        if isinstance(role, dict) and "Fn::GetAtt" in role:
            target = role["Fn::GetAtt"]
            roles.append(target[0] if isinstance(target, list) else target.split(".")[0])
        else:
            roles.append(f"{name}Role")
    return roles


def public_problems(template, translated):
    problems = []
    resources = translated.get("Resources", {})
    for role in public_roles(template):
        props = resources.get(role, {}).get("Properties", {})
        for policy in props.get("Policies", []) or []:
            for st in policy.get("PolicyDocument", {}).get("Statement", []):
                actions = listed(st.get("Action", []))
                if any(a.startswith("dynamodb:") for a in actions):
                    condition = st.get("Condition", {})
                    if not any("dynamodb:LeadingKeys" in c for c in condition.values()):
                        problems.append(f"{role} (internet-facing): {actions} without a dynamodb:LeadingKeys condition")
                if any(a.startswith("secretsmanager:") for a in actions):
                    for r in listed(st.get("Resource", [])):
                        text = resource_text(r)
                        if PUBLIC_SECRETS not in text:
                            problems.append(f"{role} (internet-facing): reads secrets {text}, beyond {PUBLIC_SECRETS}*")
    return problems


def parameter_problems(template):
    prefix = template.get("Parameters", {}).get("SecretPrefix", {})
    pattern = prefix.get("AllowedPattern")
    if not pattern or re.fullmatch(pattern, ""):
        return ["SecretPrefix: needs an AllowedPattern that refuses an empty prefix (secret:* otherwise)"]
    return []


SELF_TEST = """
Transform: AWS::Serverless-2016-10-31
Parameters:
  SecretPrefix:
    Type: String
    Default: billsync/
Resources:
  Queue:
    Type: AWS::SQS::Queue
  Bad:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: provided.al2023
      Handler: bootstrap
      CodeUri: .
      Tracing: Active
      Policies:
        - Statement:
            - Effect: Allow
              Action: ["dynamodb:*"]
              Resource: "*"
      Events:
        Work:
          Type: SQS
          Properties:
            Queue: !GetAtt Queue.Arn
        Hook:
          Type: HttpApi
          Properties:
            Path: /hook
            Method: POST
"""


def check(template):
    translated = translate(template)
    problems, checked = problems_in(translated)
    return problems + public_problems(template, translated) + parameter_problems(template), checked


def main(path):
    planted, _ = check(decode_str(SELF_TEST)[0])
    # dynamodb:* on *, SAM's three managed policies, the unguarded prefix, and dynamodb
    # without a key condition on an internet-facing function.
    assert len(planted) == 7, f"the checker missed a planted grant: {planted}"
    with open(path) as f:
        template, matches = decode_str(f.read())
    if matches:
        print(f"cannot read {path}: {matches}")
        return 1
    problems, checked = check(template)
    for p in problems:
        print(p)
    print(f"policy check (as deployed): {checked} statements, {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "template.yaml"))
