"""Staff roles (practicepay.staff.roles): the JSON API's permission table covers exactly its authorized routes, each
role's grants contain the one below it, a token's role claim is read strictly, and so is the authorizer context's."""

from __future__ import annotations

import pytest
from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent

from infra.definitions import ROUTES
from practicepay.auth.context import MissingPrincipal, role
from practicepay.staff.roles import API_PERMISSIONS, GRANTS, Permission, Role, allowed

pytestmark = pytest.mark.unit


def test_the_api_permissions_name_exactly_the_authorized_routes():
    """A new authorized route without a permission fails here (and answers 403 to every staff token meanwhile);
    a permission left behind by a removed route fails here too."""
    authorized = {(r.method, r.path) for r in ROUTES if r.authorized and r.function is not None}
    assert set(API_PERMISSIONS) - authorized == set(), "permissions for routes that are not authorized API routes"
    assert authorized - set(API_PERMISSIONS) == set(), "authorized routes without a permission"


def test_every_api_route_needs_a_permission():
    """None means "any signed-in staff member" (the dashboard's sign-out); no JSON API route is that open."""
    assert [key for key, permission in API_PERMISSIONS.items() if permission is None] == []


def test_grants_nest_front_desk_within_billing_within_admin():
    front_desk, billing, admin = GRANTS[Role.FRONT_DESK], GRANTS[Role.BILLING], GRANTS[Role.ADMIN]
    assert front_desk < billing < admin
    assert admin == frozenset(Permission), "the practice admin may do everything"
    assert set(GRANTS) == set(Role)


@pytest.mark.parametrize(
    "role, permission, expected",
    [
        (Role.FRONT_DESK, Permission.TAKE_PAYMENT, True),
        (Role.FRONT_DESK, Permission.REFUND, False),
        (Role.FRONT_DESK, Permission.SETTINGS, False),
        (Role.BILLING, Permission.REFUND, True),
        (Role.BILLING, Permission.SETTINGS, False),
        (Role.ADMIN, Permission.SETTINGS, True),
        (Role.FRONT_DESK, None, True),
    ],
)
def test_allowed_follows_the_grants(role, permission, expected):
    assert allowed(role, permission) is expected


@pytest.mark.parametrize(
    "claim, expected",
    [
        ("front_desk", Role.FRONT_DESK),
        ("billing", Role.BILLING),
        ("admin", Role.ADMIN),
        (["billing"], Role.BILLING),
        (["front_desk", "admin", "billing"], Role.ADMIN),  # the most powerful known role in the groups
        (["doctors", "front_desk"], Role.FRONT_DESK),  # other groups of the user pool are ignored
        (None, None),
        ("", None),
        ([], None),
    ],
)
def test_a_role_is_read_from_a_string_or_a_list_claim(claim, expected):
    assert Role.from_claim(claim) is expected


@pytest.mark.parametrize(
    "claim",
    ["superuser", "Admin", "front desk", ["doctors"], ["superuser", "nurses"], 3, {"role": "admin"}, ["admin", 1]],
)
def test_a_claim_naming_no_known_role_is_refused(claim):
    with pytest.raises(ValueError):
        Role.from_claim(claim)


def _app_with(context: dict) -> APIGatewayRestResolver:
    app = APIGatewayRestResolver()
    app.current_event = APIGatewayProxyEvent({"requestContext": {"authorizer": context}})
    return app


@pytest.mark.parametrize(
    "context, expected",
    [({"role": "billing"}, Role.BILLING), ({"role": ""}, None), ({}, None), ({"practice_id": "prc_a"}, None)],
)
def test_a_handler_reads_the_role_the_authorizer_put_on_the_request(context, expected):
    assert role(_app_with(context)) is expected


def test_a_role_the_authorizer_never_writes_is_a_wiring_fault_not_the_platforms_token():
    with pytest.raises(MissingPrincipal):
        role(_app_with({"role": "superuser"}))
