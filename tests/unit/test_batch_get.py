"""adapters.dynamo.batch_get: any number of keys, in DynamoDB's 100-key requests (the status poll reads a whole page
of Splash txns' payments at once; a page of more than 100 of ours was refused by DynamoDB)."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from practicepay.adapters.dynamo import UNPROCESSED_BACKOFF, Unprocessed, batch_get

pytestmark = pytest.mark.unit


def _table(name: str):
    ddb = boto3.resource("dynamodb", region_name="us-east-1")
    return ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )


@mock_aws
def test_more_than_100_keys_over_two_tables_come_back_in_order_with_none_for_missing():
    first, second = _table("first"), _table("second")
    with first.batch_writer() as w:
        for n in range(180):
            w.put_item(Item={"pk": "P", "sk": f"A#{n:03}", "amount": n, "secret": "x"})
    with second.batch_writer() as w:
        for n in range(60):
            w.put_item(Item={"pk": "P", "sk": f"B#{n:03}", "amount": 1000 + n})
    keys = [("first", {"pk": "P", "sk": f"A#{n:03}"}) for n in range(200)]  # 180 exist, 20 do not
    keys += [("second", {"pk": "P", "sk": f"B#{n:03}"}) for n in range(60)]
    keys.append(("first", {"pk": "P", "sk": "A#007"}))  # named twice
    found = batch_get(first.meta.client, keys, ("amount",))
    assert len(found) == len(keys)
    assert [f["amount"] if f else None for f in found[:200]] == [*range(180), *[None] * 20]
    assert [f["amount"] for f in found[200:260]] == [1000 + n for n in range(60)]
    assert found[-1] == found[7] and "secret" not in found[7]  # only the attributes asked for (and the key)


@mock_aws
def test_no_keys_no_call():
    assert batch_get(_table("t").meta.client, []) == []


class Throttled:
    """A BatchGetItem that leaves every key unprocessed `times` times, then answers."""

    def __init__(self, times: int) -> None:
        self.times, self.calls = times, 0

    def batch_get_item(self, RequestItems):  # noqa: N803 (boto3's name)
        self.calls += 1
        if self.calls <= self.times:
            return {"Responses": {}, "UnprocessedKeys": RequestItems}
        return {"Responses": {t: [dict(k, v=1) for k in r["Keys"]] for t, r in RequestItems.items()}}


def test_unprocessed_keys_are_retried_with_backoff_then_answered():
    waits: list[float] = []
    throttled = Throttled(times=2)
    found = batch_get(throttled, [("t", {"pk": "P", "sk": "A"})], sleep=waits.append)
    assert found == [{"pk": "P", "sk": "A", "v": 1}] and throttled.calls == 3
    assert waits == list(UNPROCESSED_BACKOFF[:2])  # growing waits, as DynamoDB asks


def test_keys_still_unprocessed_after_every_retry_fail_the_read_rather_than_answer_none():
    waits: list[float] = []
    with pytest.raises(Unprocessed, match="1 keys left unprocessed"):
        batch_get(Throttled(times=99), [("t", {"pk": "P", "sk": "A"})], sleep=waits.append)
    assert waits == list(UNPROCESSED_BACKOFF)
