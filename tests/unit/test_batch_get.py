"""adapters.dynamo.batch_get: any number of keys, in DynamoDB's 100-key requests (the status poll reads a whole page
of Splash txns' payments at once; a page of more than 100 of ours was refused by DynamoDB)."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from practicepay.adapters.dynamo import batch_get

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
