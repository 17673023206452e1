"""Checks the benchmark moto's own transaction rollback (tests/bench/moto_server.py backs up
only the items a transaction names, instead of moto's copy of whole tables): a cancelled
transaction leaves every item as it was, and a passing one writes them all. In-process, with
moto's mock; run by the test command."""

import os
import sys

import boto3
from moto import mock_aws

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import moto_server  # noqa: E402,F401  (patches moto on import)


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


if __name__ == "__main__":
    main()
