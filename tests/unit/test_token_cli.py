"""`make token SECRET=<JwtSecretArn>`: the first admin token of a deployed HS256 stack, signed with its secret."""

from __future__ import annotations

import boto3
import jwt
import pytest
from moto import mock_aws

from local import token
from practicepay.auth import ADMIN_SCOPE

pytestmark = pytest.mark.unit


@mock_aws
def test_a_token_signed_with_a_deployed_stacks_secret_carries_its_issuer_and_the_admin_scope(capsys, monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    secret = "s" * 64
    arn = boto3.client("secretsmanager").create_secret(Name="JwtSigningSecret", SecretString=secret)["ARN"]
    args = ["ops", "--admin", "--secret", arn, "--issuer", "https://platform.example", "--subject", "ops@practice"]
    assert token.main(args) == 0
    claims = jwt.decode(
        capsys.readouterr().out.strip(),
        secret,
        algorithms=["HS256"],
        audience="practicepay",
        issuer="https://platform.example",
    )
    assert (claims["practice_id"], claims["sub"], claims["scope"]) == ("ops", "ops@practice", ADMIN_SCOPE)


def test_a_bad_practice_id_is_refused_without_a_traceback(capsys):
    assert token.main(["no spaces allowed"]) == 2
    assert "practice id" in capsys.readouterr().err
