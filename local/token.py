"""`make token PRACTICE=<id>`: print a signed HS256 token for a practice (`ROLE=front_desk|billing|admin`: a staff
member's, limited to what that role may do; none: the clinical platform's own).

Locally it is signed with the local stack's secret (.local/jwt-secret). After a deploy in HS256 mode (no
`jwt_jwks_url`), `--secret <JwtSecretArn>` signs with the stack's secret in Secrets Manager (AWS credentials
needed: `secretsmanager:GetSecretValue` and `kms:Decrypt` on the data key), which is how an operator gets the
first admin token; give `--issuer`/`--audience` when the stack's `jwt_issuer`/`jwt_audience` are not the
defaults. In JWKS mode the clinical platform mints every token: there is no secret to sign with.
"""

from __future__ import annotations

import argparse
import sys

from practicepay.auth import ADMIN_SCOPE
from practicepay.auth.tokens import issue_hs256
from practicepay.staff.roles import Role


def signing_secret(secret_arn: str | None) -> str:
    if secret_arn is None:
        from local.secrets_file import local_jwt_secret

        return local_jwt_secret()
    import boto3

    return boto3.client("secretsmanager").get_secret_value(SecretId=secret_arn)["SecretString"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("practice", help="practice id: 1-64 letters, digits, '_' or '-'")
    parser.add_argument("--ttl", type=int, default=12 * 3600, help="lifetime in seconds (default 12 h)")
    parser.add_argument("--admin", action="store_true", help=f"add the {ADMIN_SCOPE} scope (onboarding)")
    parser.add_argument("--secret", metavar="ARN", help="a deployed stack's JwtSecretArn (default: the local one)")
    parser.add_argument("--issuer", default="practicepay-local", help="the stack's jwt_issuer")
    parser.add_argument("--audience", default="practicepay", help="the stack's jwt_audience")
    parser.add_argument("--subject", default="local-developer", help="who the token is for (the `sub` claim)")
    parser.add_argument("--role", type=Role, choices=list(Role), help="a staff member's role (default: none)")
    args = parser.parse_args(argv)
    try:
        scope = ADMIN_SCOPE if args.admin else None
        token = issue_hs256(
            signing_secret(args.secret),
            args.practice,
            issuer=args.issuer,
            audience=args.audience,
            subject=args.subject,
            ttl_seconds=args.ttl,
            scope=scope,
            role=args.role,
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # boto3's: no credentials, no such secret, access denied
        print(f"error: could not read the signing secret {args.secret}: {exc}", file=sys.stderr)
        return 2
    print(token)
    return 0


if __name__ == "__main__":
    sys.exit(main())
