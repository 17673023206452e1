"""Checks the benchmark moto's own changes (tests/bench/moto_server.py): its transaction
rollback (it backs up only the items a transaction names, instead of moto's copy of whole
tables) leaves every item as it was on a cancel and writes them all on a pass; its indexed FIFO
queue still drops repeated de-duplication ids, hands messages out in order one group at a
time, deletes by any receipt a message had and refuses unknown ones. In-process, with moto's
mock; run by the test command."""

import os
import sys

import boto3
from moto import mock_aws

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import moto_server  # noqa: E402,F401  (patches moto on import)

# The test command points the AWS SDKs at its moto server; these checks run on the patched
# models in this process, so boto3 must use its own endpoints, which the mock intercepts.
for name in [n for n in os.environ if n.startswith("AWS_ENDPOINT_URL")]:
    del os.environ[name]


def items(client):
    found = client.scan(TableName="t")["Items"]
    return sorted((i["sk"]["S"], i["version"]["N"]) for i in found)


@mock_aws
def main():
    client = boto3.client("dynamodb", region_name="us-east-1")
    client.create_table(
        TableName="t",
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    client.put_item(TableName="t", Item={"pk": {"S": "p"}, "sk": {"S": "A"}, "version": {"N": "1"}})
    advance = {
        "TableName": "t",
        "Key": {"pk": {"S": "p"}, "sk": {"S": "A"}},
        "UpdateExpression": "SET version = :next",
        "ConditionExpression": "version = :expected",
        "ExpressionAttributeValues": {":next": {"N": "2"}, ":expected": {"N": "0"}},
    }
    create = {
        "TableName": "t",
        "Item": {"pk": {"S": "p"}, "sk": {"S": "B"}, "version": {"N": "1"}},
        "ConditionExpression": "attribute_not_exists(pk)",
    }
    overwrite = {"TableName": "t", "Item": {"pk": {"S": "p"}, "sk": {"S": "C"}, "version": {"N": "1"}}}
    transaction = [{"Put": create}, {"Update": advance}, {"Put": overwrite}]
    try:
        client.transact_write_items(TransactItems=transaction)
        raise AssertionError("a transaction with a failed condition was not cancelled")
    except client.exceptions.TransactionCanceledException as e:
        codes = [r["Code"] for r in e.response["CancellationReasons"]]
        assert codes == ["None", "ConditionalCheckFailed", "None"], codes
    assert items(client) == [("A", "1")], f"not rolled back: {items(client)}"

    advance["ExpressionAttributeValues"][":expected"] = {"N": "1"}
    client.transact_write_items(TransactItems=transaction)
    assert items(client) == [("A", "2"), ("B", "1"), ("C", "1")], items(client)
    print("bench moto: transactions roll back and commit as DynamoDB's do")


@mock_aws
def fifo():
    sqs = boto3.client("sqs", region_name="us-east-1")
    url = sqs.create_queue(
        QueueName="q.fifo", Attributes={"FifoQueue": "true", "VisibilityTimeout": "30"}
    )["QueueUrl"]

    def send(body, group, dedup):
        sqs.send_message(QueueUrl=url, MessageBody=body, MessageGroupId=group, MessageDeduplicationId=dedup)

    def receive(n=10):
        got = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=n, MessageSystemAttributeNames=["ApproximateReceiveCount"]
        )
        return got.get("Messages", [])

    send("a1", "a", "d-a1")
    send("a1 again", "a", "d-a1")
    send("b1", "b", "d-b1")
    send("a2", "a", "d-a2")
    first = receive()
    assert [m["Body"] for m in first] == ["a1", "b1", "a2"], [m["Body"] for m in first]
    assert receive() == [], "all in flight"
    # A handed-back message comes again, counted.
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=first[1]["ReceiptHandle"], VisibilityTimeout=0)
    again = receive()
    assert [m["Body"] for m in again] == ["b1"], again
    assert again[0]["Attributes"]["ApproximateReceiveCount"] == "2", again
    # Deletes by the first receipt and by the latest one; an unknown receipt is refused.
    sqs.delete_message(QueueUrl=url, ReceiptHandle=first[0]["ReceiptHandle"])
    sqs.delete_message(QueueUrl=url, ReceiptHandle=again[0]["ReceiptHandle"])
    sqs.delete_message(QueueUrl=url, ReceiptHandle=first[2]["ReceiptHandle"])
    try:
        sqs.delete_message(QueueUrl=url, ReceiptHandle="not-a-receipt")
        raise AssertionError("an unknown receipt was accepted")
    except sqs.exceptions.ReceiptHandleIsInvalid:
        pass
    # Within five minutes a de-duplication id stays used, deleted or not.
    send("a1 late", "a", "d-a1")
    assert receive() == [], "a repeat within five minutes is dropped"
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attrs["ApproximateNumberOfMessages"] == "0", attrs
    print("bench moto: the FIFO queue de-duplicates, orders and deletes as SQS does")


if __name__ == "__main__":
    main()
    fifo()
