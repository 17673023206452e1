"""Fails when template.yaml's observability would not work as deployed. Run by the test
command after cfn-lint and the policy check.

- The alarm topic's KMS key lets CloudWatch use it: CloudWatch alarms cannot publish to a topic
  encrypted with the AWS-managed SNS key, so the alarms' e-mails would never arrive.
- Every function has a log group named as Lambda names it, with a retention period.
- Every alarm names a metric that exists: a `billsync` metric some metric filter publishes, or
  one the functions publish as embedded metrics (shared/src/metrics.rs, dimension Env), or an
  AWS metric whose dimension names a resource of the template.
- The dashboard's body is valid JSON once its ${...} references are filled in.
- The HTTP API is throttled and writes access logs; every log group has a retention.
- Every internet-facing function can have reserved concurrency, every SQS-fed one a maximum.
"""

import json
import os
import re
import sys

from cfnlint.decode import decode_str


def sub_text(value):
    """The text of a !Sub (or a plain string); None for other intrinsics."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Fn::Sub" in value:
        sub = value["Fn::Sub"]
        return sub if isinstance(sub, str) else sub[0]
    return None


def listed(value):
    return value if isinstance(value, list) else [value]


def embedded_metrics():
    """The metric names shared/src/metrics.rs publishes (its `Metric::X => "Name"` arms)."""
    path = os.path.join(os.path.dirname(__file__), "..", "shared", "src", "metrics.rs")
    with open(path) as f:
        return set(re.findall(r'Metric::\w+ => "(\w+)"', f.read()))


def problems_in(template, emf=frozenset()):
    resources = template.get("Resources", {})
    problems = []

    # The alarm topic and its key.
    topics = {n: r for n, r in resources.items() if r.get("Type") == "AWS::SNS::Topic"}
    alarms = {n: r for n, r in resources.items() if r.get("Type") == "AWS::CloudWatch::Alarm"}
    alarm_topics = set()
    for name, alarm in alarms.items():
        for action in listed(alarm.get("Properties", {}).get("AlarmActions", [])):
            if isinstance(action, dict) and "Ref" in action:
                alarm_topics.add(action["Ref"])
    for topic in sorted(alarm_topics):
        props = topics.get(topic, {}).get("Properties", {})
        key = props.get("KmsMasterKeyId")
        if key is None:
            continue
        if not (isinstance(key, dict) and key.get("Ref") in resources):
            problems.append(f"{topic}: alarms publish to it, so its key must be a customer-managed key of the template, not {key}")
            continue
        policy = resources[key["Ref"]].get("Properties", {}).get("KeyPolicy", {})
        allowed = set()
        for st in policy.get("Statement", []):
            principal = st.get("Principal", {})
            services = listed(principal.get("Service", [])) if isinstance(principal, dict) else []
            if st.get("Effect") == "Allow" and "cloudwatch.amazonaws.com" in services:
                allowed.update(listed(st.get("Action", [])))
        for needed in ("kms:Decrypt", "kms:GenerateDataKey*"):
            if needed not in allowed and "kms:*" not in allowed:
                problems.append(f"{key['Ref']}: the key policy must allow cloudwatch.amazonaws.com {needed}")

    # A log group with retention for every function.
    groups = {}
    for name, res in resources.items():
        if res.get("Type") == "AWS::Logs::LogGroup":
            props = res.get("Properties", {})
            groups[sub_text(props.get("LogGroupName"))] = (name, props.get("RetentionInDays"))
    for name, (_, retention) in ((g[0], g) for g in groups.values()):
        if not retention:
            problems.append(f"{name}: no RetentionInDays (its logs would be kept forever)")
    for name, res in resources.items():
        if res.get("Type") != "AWS::Serverless::Function":
            continue
        fn = sub_text(res.get("Properties", {}).get("FunctionName"))
        if fn is None:
            problems.append(f"{name}: give it a FunctionName so its log group can be declared")
            continue
        group = groups.get(f"/aws/lambda/{fn}")
        if group is None:
            problems.append(f"{name}: no log group /aws/lambda/{fn} (Lambda would create one that keeps logs forever)")

    # Every alarm's metric exists.
    published = set()
    for res in resources.values():
        if res.get("Type") == "AWS::Logs::MetricFilter":
            for t in res.get("Properties", {}).get("MetricTransformations", []):
                published.add((t.get("MetricNamespace"), sub_text(t.get("MetricName"))))
    for name, alarm in alarms.items():
        props = alarm.get("Properties", {})
        namespace, metric = props.get("Namespace"), sub_text(props.get("MetricName"))
        if namespace is None or metric is None:
            problems.append(f"{name}: no Namespace or MetricName")
            continue
        if namespace.startswith("AWS/"):
            for dim in props.get("Dimensions", []):
                value = dim.get("Value")
                target = None
                if isinstance(value, dict):
                    target = value.get("Ref") or (value.get("Fn::GetAtt") or [None])[0]
                if target is None or target not in resources:
                    problems.append(f"{name}: dimension {dim.get('Name')} names no resource of the template")
        elif namespace == "billsync" and metric in emf:
            dims = [d.get("Name") for d in props.get("Dimensions", [])]
            if dims != ["Env"]:
                problems.append(f"{name}: the embedded metric {metric} is published by Env alone, not {dims}")
        elif (namespace, metric) not in published:
            problems.append(f"{name}: no metric filter publishes {namespace}/{metric}")

    # The public endpoint is throttled and logged.
    for name, res in resources.items():
        if res.get("Type") != "AWS::Serverless::HttpApi":
            continue
        props = res.get("Properties", {})
        route = props.get("DefaultRouteSettings", {})
        if "ThrottlingRateLimit" not in route or "ThrottlingBurstLimit" not in route:
            problems.append(f"{name}: no throttling (DefaultRouteSettings ThrottlingRateLimit and ThrottlingBurstLimit)")
        if "DestinationArn" not in props.get("AccessLogSettings", {}):
            problems.append(f"{name}: no access log (AccessLogSettings DestinationArn)")

    # Every function fed from outside has a bound on how many instances run: the webhook
    # function reserved concurrency (a parameter, 0 meaning none, since a new account cannot
    # reserve any), an SQS-fed one its event source's MaximumConcurrency.
    for name, res in resources.items():
        if res.get("Type") != "AWS::Serverless::Function":
            continue
        props = res.get("Properties", {})
        for event in (props.get("Events") or {}).values():
            kind = event.get("Type")
            if kind in ("HttpApi", "Api") and "ReservedConcurrentExecutions" not in props:
                problems.append(f"{name}: internet-facing without ReservedConcurrentExecutions (a parameter may leave it unset)")
            if kind == "SQS" and "MaximumConcurrency" not in event.get("Properties", {}).get("ScalingConfig", {}):
                problems.append(f"{name}: SQS-fed without ScalingConfig MaximumConcurrency")

    for name, res in resources.items():
        if res.get("Type") != "AWS::CloudWatch::Dashboard":
            continue
        body = sub_text(res.get("Properties", {}).get("DashboardBody"))
        try:
            json.loads(re.sub(r"\$\{[^}]+\}", "x", body or ""))
        except ValueError as e:
            problems.append(f"{name}: the dashboard body is not JSON: {e}")
    return problems


SELF_TEST = """
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: !Sub app-${Env}-fn
      Events:
        Hook:
          Type: HttpApi
          Properties: {Path: /hook, Method: POST}
  Key:
    Type: AWS::KMS::Key
    Properties:
      KeyPolicy:
        Statement:
          - Effect: Allow
            Principal: {AWS: root}
            Action: kms:*
            Resource: "*"
  Topic:
    Type: AWS::SNS::Topic
    Properties:
      KmsMasterKeyId: !Ref Key
  Alarm:
    Type: AWS::CloudWatch::Alarm
    Properties:
      Namespace: billsync
      MetricName: Nothing
      AlarmActions: [!Ref Topic]
  Api:
    Type: AWS::Serverless::HttpApi
    Properties:
      StageName: $default
"""


def main():
    expected = 7
    found, _ = decode_str(SELF_TEST)
    caught = problems_in(found)
    if len(caught) != expected:
        print(f"template check self-test: expected {expected} problems, got {caught}")
        return 1
    path = sys.argv[1] if len(sys.argv) > 1 else "template.yaml"
    with open(path) as f:
        template, matches = decode_str(f.read())
    if template is None:
        print(f"cannot read {path}: {matches}")
        return 1
    problems = problems_in(template, embedded_metrics())
    for p in problems:
        print(f"template: {p}")
    alarms = sum(1 for r in template["Resources"].values() if r.get("Type") == "AWS::CloudWatch::Alarm")
    print(f"template check: {alarms} alarms, {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
