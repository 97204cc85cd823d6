"""Who is calling: JWT verification for the authorizer, and the tenancy context for handlers."""

import re

# A practice id: 1-64 letters, digits, '_' or '-'. Here (not in tokens.py) so that handlers checking the
# authorizer context do not import the JWT and cryptography libraries, which only the authorizer needs.
PRACTICE_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

# The clinical platform's own operators: may onboard practices and read or change any practice's settings.
ADMIN_SCOPE = "practicepay:admin"

# The claim naming a staff member's role (practicepay.staff.roles.Role) when the default is not changed
# (AuthorizerConfig.jwt_role_claim). A token without it is the clinical platform's own: not limited by role.
ROLE_CLAIM = "practicepay_role"
