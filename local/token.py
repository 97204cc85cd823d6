"""`make token PRACTICE=<id>`: print a signed token for a practice, valid against the local stack."""

from __future__ import annotations

import argparse
import sys

from local.secrets_file import local_jwt_secret
from practicepay.auth import ADMIN_SCOPE
from practicepay.auth.tokens import issue_hs256


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("practice", help="practice id: 1-64 letters, digits, '_' or '-'")
    parser.add_argument("--ttl", type=int, default=12 * 3600, help="lifetime in seconds (default 12 h)")
    parser.add_argument("--admin", action="store_true", help=f"add the {ADMIN_SCOPE} scope (onboarding)")
    args = parser.parse_args(argv)
    try:
        scope = ADMIN_SCOPE if args.admin else None
        print(issue_hs256(local_jwt_secret(), args.practice, ttl_seconds=args.ttl, scope=scope))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
