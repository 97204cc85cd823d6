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


def test_queues_still_deduplicate_by_content_and_count_their_messages(aws_env):
    sqs = boto3.client("sqs")
    fifo = sqs.create_queue(
        QueueName="embedded-dedup.fifo", Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"}
    )["QueueUrl"]
    plain = sqs.create_queue(QueueName="embedded-plain")["QueueUrl"]
    for _ in range(3):
        sqs.send_message(QueueUrl=fifo, MessageBody="same body", MessageGroupId="g")
        sqs.send_message_batch(QueueUrl=plain, Entries=[{"Id": str(i), "MessageBody": "same body"} for i in range(4)])

    def count(url: str) -> int:
        attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        return int(attrs["ApproximateNumberOfMessages"])

    assert (count(fifo), count(plain)) == (1, 12)
    attrs = sqs.get_queue_attributes(QueueUrl=fifo, AttributeNames=["ContentBasedDeduplication"])["Attributes"]
    assert attrs == {"ContentBasedDeduplication": "true"}


def test_index_queries_page_in_order_and_see_every_write_between_pages(aws_env):
    """The embedded AWS keeps an index partition sorted between pages (local/aws.py); a write in between must
    show, and paging either way, with a key condition on the sort key, returns what DynamoDB would."""
    table = boto3.resource("dynamodb").Table(aws_env["SCHEDULES_TABLE"])
    for n in range(30):
        table.put_item(
            Item={"pk": "PAGING", "sk": f"item#{n:02d}", "due_pk": "PAGING-TEST", "due_sk": f"{n % 10}#{n:02d}"}
        )

    def read(forward: bool = True, limit: int = 4, condition: str = "due_pk = :p", **values: str) -> list[str]:
        kwargs = {
            "IndexName": "due",
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": {":p": "PAGING-TEST", **values},
            "Limit": limit,
            "ScanIndexForward": forward,
        }
        seen: list[str] = []
        while True:
            page = table.query(**kwargs)
            seen += [i["due_sk"] for i in page["Items"]]
            if "LastEvaluatedKey" not in page:
                return seen
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
            if len(seen) == 8:  # between pages: one item leaves the index, one joins it
                table.update_item(Key={"pk": "PAGING", "sk": "item#29"}, UpdateExpression="REMOVE due_pk")
                table.put_item(Item={"pk": "PAGING", "sk": "item#99", "due_pk": "PAGING-TEST", "due_sk": "9#99"})

    expected = sorted(f"{n % 10}#{n:02d}" for n in range(30))
    assert read() == [k for k in expected if k != "9#29"] + ["9#99"]
    assert read(forward=False) == sorted(set(expected) - {"9#29"} | {"9#99"}, reverse=True)
    between = read(condition="due_pk = :p AND due_sk BETWEEN :a AND :b", limit=2, **{":a": "3#", ":b": "5#~"})
    assert between == ["3#03", "3#13", "3#23", "4#04", "4#14", "4#24", "5#05", "5#15", "5#25"]
