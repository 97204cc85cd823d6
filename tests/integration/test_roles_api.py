"""Staff roles on the JSON API (issue #20, practicepay.staff.roles): every authorized route × every role, through the
local front in-process (the authorizer reads the token's role, the resolver's middleware checks it).

A role that lacks the route's permission gets 403 problem+json naming the permission, and nothing changes: every
item of every DynamoDB table and the Splash sandbox's txns are the same after the request as before, and the
handler made no write at all (AWS or Splash; the hostile-input module's `writes` log). A role that has it is let
through: with the hostile-input module's records and bodies (PARAMS, BODIES, its World) each of its requests is a
2xx, so a new route is driven here as soon as it is driven there."""

from __future__ import annotations

import json
import os
from typing import Any

import boto3
import pytest

from infra.definitions import TABLES
from practicepay.auth import ADMIN_SCOPE, ROLE_CLAIM
from practicepay.auth.tokens import issue_hs256
from practicepay.staff.roles import API_PERMISSIONS, Role, allowed
from tests.helpers import TEST_SECRET
from tests.integration import test_hostile_input as hostile
from tests.integration.test_exactly_once import txn_count
from tests.integration.test_hostile_input import OPS, PRACTICE, Op, refused

pytestmark = pytest.mark.integration

# The module-scoped fixtures of the hostile-input module, instantiated again for this module: prc_hostile boarded
# with balance links on, its World, and the log of every write the handlers make.
world = hostile.world
writes = hostile.writes

ROLE_OPS = [o for o in OPS if (o.method, o.path) in API_PERMISSIONS]
CASES = [(o, role) for o in ROLE_OPS for role in Role]


def staff_token(o: Op, role: Role) -> str:
    """A staff member's token of prc_hostile; POST /practices (onboarding) also needs the platform's admin scope,
    as in test_hostile_input, so that the role alone decides."""
    if str(o) == "POST /practices":
        return issue_hs256(TEST_SECRET, "platform-ops", scope=ADMIN_SCOPE, role=role)
    return issue_hs256(TEST_SECRET, PRACTICE, role=role)


def send_as(world: hostile.World, o: Op, token: str):
    t = world.target(o)
    if t.body is None:
        return world.send(o, t, None, content_type=None, headers={"Authorization": f"Bearer {token}"})
    return world.send(o, t, json.dumps(t.body), headers={"Authorization": f"Bearer {token}"})


@pytest.fixture(scope="module")
def snapshot(aws_env, stack_sandbox):
    """Everything a request could change: every item of every table (a scan: fine for the test world's few hundred
    items) and the Splash sandbox's txn count, taken once its alerts in flight have landed."""
    dynamodb = boto3.resource("dynamodb")

    def take() -> dict[str, Any]:
        assert stack_sandbox.sandbox.wait_for_alerts(10.0), "the sandbox still has alerts to send"
        state: dict[str, Any] = {"splash txns": txn_count(stack_sandbox.sandbox)}
        for table in TABLES:
            name = os.environ[table.env_var]
            items, kwargs = [], {"ConsistentRead": True}
            while True:
                page = dynamodb.Table(name).scan(**kwargs)
                items += page["Items"]
                if "LastEvaluatedKey" not in page:
                    break
                kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
            keys = [k for k in (table.partition_key, table.sort_key) if k]
            state[name] = sorted(items, key=lambda item, keys=keys: [item[k] for k in keys])
        return state

    return take


def changed(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """The tables (or "splash txns") that differ."""
    return [name for name in before if before[name] != after[name]]


def test_every_authorized_route_is_driven_here():
    """ROLE_OPS are the hostile-input module's routes that API_PERMISSIONS names; tests/unit/test_roles.py proves
    API_PERMISSIONS names every authorized route, so none is left out here."""
    assert {(o.method, o.path) for o in ROLE_OPS} == set(API_PERMISSIONS)


@pytest.mark.parametrize("o, role", CASES, ids=[f"{o} as {role.value}" for o, role in CASES])
def test_each_route_answers_each_role_as_its_permission_says(world, snapshot, o, role):
    permission = API_PERMISSIONS[(o.method, o.path)]
    token = staff_token(o, role)
    if allowed(role, permission):
        hostile.accepted(send_as(world, o, token))  # the role passes; the test data makes every one a 2xx
        return
    world.target(o)  # its records made (and the body's) before the snapshot: the request alone is measured
    before = snapshot()
    resp = send_as(world, o, token)
    body = refused(resp, 403, "forbidden", world.wrote)
    assert f"may not {permission}." in body["detail"], body["detail"]
    assert f"({role.label.lower()})" in body["detail"], body["detail"]
    diff = changed(before, snapshot())
    assert not diff, f"a refused {o} as {role.value} changed {diff}"


def test_a_role_no_one_knows_is_refused_at_the_gateway(world, api):
    """Fail closed: a token whose role claim names no role of ours is no token at all (401), never the platform's
    own unlimited one."""
    import jwt

    claims = jwt.decode(issue_hs256(TEST_SECRET, PRACTICE), options={"verify_signature": False})
    token = jwt.encode({**claims, ROLE_CLAIM: "superuser"}, TEST_SECRET, algorithm="HS256")
    resp = api.client.open("/invoices", method="GET", headers={"Authorization": f"Bearer {token}"})
    refused(resp, 401, "unauthorized")


def test_a_route_the_permission_table_does_not_name_is_refused_to_every_role(world, monkeypatch):
    """Fail closed: a route added without its permission answers 403 to staff (tests/unit/test_roles.py fails
    first), while the clinical platform's token still reaches it."""
    import practicepay.api.resolver as resolver

    o = hostile.op("GET /invoices")
    monkeypatch.setattr(
        resolver, "API_PERMISSIONS", {k: v for k, v in API_PERMISSIONS.items() if k != ("GET", "/invoices")}
    )
    body = refused(send_as(world, o, staff_token(o, Role.ADMIN)), 403, "forbidden")
    assert "GET /invoices" in body["detail"], body["detail"]
    assert send_as(world, o, issue_hs256(TEST_SECRET, PRACTICE)).status_code == 200
