"""The embedded AWS keeps DynamoDB's transaction semantics with its cheaper rollback (local/aws.py): a cancelled
TransactWriteItems leaves every item as it was, whether the transaction put a new one, replaced or updated one."""

from __future__ import annotations

import boto3
import pytest

from practicepay.adapters.dynamo import Transaction, TransactionConflict

pytestmark = pytest.mark.integration


def test_a_cancelled_transaction_leaves_every_item_as_it_was(aws_env):
    name = aws_env["SYNC_TABLE"]
    table = boto3.resource("dynamodb").Table(name)
    table.put_item(Item={"pk": "ROLLBACK", "sk": "kept", "n": 1})
    table.put_item(Item={"pk": "ROLLBACK", "sk": "updated", "n": 1})
    tx = Transaction()
    tx.put(name, {"pk": "ROLLBACK", "sk": "new", "n": 1})
    tx.put(name, {"pk": "ROLLBACK", "sk": "kept", "n": 2})
    tx.update(name, {"pk": "ROLLBACK", "sk": "updated"}, "SET #n = :n", {"#n": "n"}, {":n": 2})
    tx.put(name, {"pk": "ROLLBACK", "sk": "guard", "n": 1}, "attribute_exists(pk)")  # fails: no such item
    with pytest.raises(TransactionConflict) as failed:
        tx.commit()
    assert failed.value.reasons == ["None", "None", "None", "ConditionalCheckFailed"]
    items = {
        i["sk"]: int(i["n"])
        for i in table.query(KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": "ROLLBACK"})["Items"]
    }
    assert items == {"kept": 1, "updated": 1}

    tx = Transaction()  # and a transaction that commits writes them all
    tx.put(name, {"pk": "ROLLBACK", "sk": "new", "n": 1})
    tx.update(name, {"pk": "ROLLBACK", "sk": "updated"}, "SET #n = :n", {"#n": "n"}, {":n": 2})
    tx.commit()
    items = {
        i["sk"]: int(i["n"])
        for i in table.query(KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": "ROLLBACK"})["Items"]
    }
    assert items == {"kept": 1, "updated": 2, "new": 1}
