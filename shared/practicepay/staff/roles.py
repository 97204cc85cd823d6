"""Staff roles and what each may do: one table, enforced by the dashboard on every route and by the JSON API for
a token that names a role (ADR 0018). A permission not granted answers 403 before any service runs."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    FRONT_DESK = "front_desk"
    BILLING = "billing"
    ADMIN = "admin"  # the practice's administrator

    @property
    def label(self) -> str:
        return {"front_desk": "Front desk", "billing": "Billing", "admin": "Practice admin"}[self.value]

    @classmethod
    def from_claim(cls, value: object) -> Role | None:
        """The role a token's claim names: a string, or a list of groups (Cognito's `cognito:groups`) of which the
        most powerful known role counts. None when it names none; ValueError when it names only unknown roles (a
        token must not pass with a role it does not have)."""
        if value is None or value == "" or value == []:
            return None
        names = [value] if isinstance(value, str) else value if isinstance(value, list) else None
        if names is None or not all(isinstance(n, str) for n in names):
            raise ValueError("the role claim is neither a string nor a list of strings")
        known = [cls(n) for n in names if n in cls._value2member_map_]
        if not known:
            raise ValueError("the role claim names no known role")
        order = list(cls)
        return max(known, key=order.index)


class Permission(StrEnum):
    TODAY = "today.read"  # the day's payments and the attention queue
    PATIENTS = "patients.read"  # search, a patient's and an invoice's page
    TAKE_PAYMENT = "payments.take"  # at the desk, through PayFields or a card on file
    SEND_PAY_LINK = "pay_links.send"
    REFUND = "refunds.create"
    WRITE_OFF = "invoices.write_off"
    CANCEL = "invoices.cancel"
    PLANS = "plans.manage"
    DISPUTES = "disputes.manage"
    REPORTS = "reports.read"
    AUDIT = "audit.read"
    SETTINGS = "settings.manage"
    USERS = "users.manage"
    INVOICES_WRITE = "invoices.write"  # the JSON API's create and issue (the clinical platform's work)
    PATIENTS_WRITE = "patients.write"  # the JSON API's patient records and cards on file


_FRONT_DESK = frozenset(
    {
        Permission.TODAY,
        Permission.PATIENTS,
        Permission.TAKE_PAYMENT,
        Permission.SEND_PAY_LINK,
        Permission.INVOICES_WRITE,
        Permission.PATIENTS_WRITE,
    }
)
_BILLING = _FRONT_DESK | {
    Permission.REFUND,
    Permission.WRITE_OFF,
    Permission.CANCEL,
    Permission.PLANS,
    Permission.DISPUTES,
    Permission.REPORTS,
    Permission.AUDIT,
}
_ADMIN = _BILLING | {Permission.SETTINGS, Permission.USERS}

GRANTS: dict[Role, frozenset[Permission]] = {Role.FRONT_DESK: _FRONT_DESK, Role.BILLING: _BILLING, Role.ADMIN: _ADMIN}


def allowed(role: Role, permission: Permission | None) -> bool:
    """Whether `role` may do what needs `permission` (None: any signed-in staff member, e.g. signing out)."""
    return permission is None or permission in GRANTS[role]


P = Permission
DASHBOARD_PERMISSIONS: dict[tuple[str, str], Permission | None] = {
    ("GET", "/dashboard"): P.TODAY,
    ("POST", "/dashboard/signout"): None,
    ("GET", "/dashboard/patients"): P.PATIENTS,
    ("GET", "/dashboard/patients/{patient_id}"): P.PATIENTS,
    ("POST", "/dashboard/patients/{patient_id}/pay-links"): P.SEND_PAY_LINK,
    ("GET", "/dashboard/invoices/{invoice_id}"): P.PATIENTS,
    ("POST", "/dashboard/invoices/{invoice_id}/payments"): P.TAKE_PAYMENT,
    ("POST", "/dashboard/invoices/{invoice_id}/pay-links"): P.SEND_PAY_LINK,
    ("POST", "/dashboard/invoices/{invoice_id}/payment-plan"): P.PLANS,
    ("POST", "/dashboard/invoices/{invoice_id}/write-off"): P.WRITE_OFF,
    ("POST", "/dashboard/invoices/{invoice_id}/cancel"): P.CANCEL,
    ("POST", "/dashboard/payments/{payment_id}/refunds"): P.REFUND,
    ("GET", "/dashboard/disputes"): P.DISPUTES,
    ("GET", "/dashboard/disputes/{dispute_id}"): P.DISPUTES,
    ("GET", "/dashboard/disputes/{dispute_id}/evidence"): P.DISPUTES,
    ("POST", "/dashboard/disputes/{dispute_id}/respond"): P.DISPUTES,
    ("POST", "/dashboard/disputes/{dispute_id}/accept"): P.DISPUTES,
    ("GET", "/dashboard/reports"): P.REPORTS,
    ("GET", "/dashboard/reports/{report}/csv"): P.REPORTS,
    ("GET", "/dashboard/deposits/{deposit_id}"): P.REPORTS,
    ("GET", "/dashboard/audit"): P.AUDIT,
    ("GET", "/dashboard/audit/csv"): P.AUDIT,
    ("GET", "/dashboard/settings"): P.SETTINGS,
    ("POST", "/dashboard/settings"): P.SETTINGS,
    ("GET", "/dashboard/users"): P.USERS,
}
"""Every signed-in dashboard route and the permission it needs. The public ones (assets, sign-in, the OIDC
callback) are not here: they need no session."""
PUBLIC_DASHBOARD_ROUTES = frozenset(
    {
        ("GET", "/dashboard/assets/{asset}"),
        ("GET", "/dashboard/signin"),
        ("POST", "/dashboard/signin"),
        ("GET", "/dashboard/callback"),
    }
)

API_PERMISSIONS: dict[tuple[str, str], Permission | None] = {
    ("POST", "/invoices"): P.INVOICES_WRITE,
    ("GET", "/invoices"): P.PATIENTS,
    ("GET", "/invoices/{invoice_id}"): P.PATIENTS,
    ("POST", "/invoices/{invoice_id}/issue"): P.INVOICES_WRITE,
    ("POST", "/invoices/{invoice_id}/cancel"): P.CANCEL,
    ("POST", "/invoices/{invoice_id}/write-off"): P.WRITE_OFF,
    ("POST", "/patients"): P.PATIENTS_WRITE,
    ("GET", "/patients"): P.PATIENTS,
    ("GET", "/patients/{patient_id}"): P.PATIENTS,
    ("PATCH", "/patients/{patient_id}"): P.PATIENTS_WRITE,
    ("POST", "/patients/{patient_id}/payment-methods"): P.PATIENTS_WRITE,
    ("GET", "/patients/{patient_id}/payment-methods"): P.PATIENTS,
    ("DELETE", "/patients/{patient_id}/payment-methods/{method_id}"): P.PATIENTS_WRITE,
    ("POST", "/invoices/{invoice_id}/payments"): P.TAKE_PAYMENT,
    ("GET", "/payments"): P.PATIENTS,
    ("GET", "/payments/{payment_id}"): P.PATIENTS,
    ("POST", "/payments/{payment_id}/refunds"): P.REFUND,
    ("POST", "/invoices/{invoice_id}/payment-plan"): P.PLANS,
    ("GET", "/invoices/{invoice_id}/payment-plan"): P.PATIENTS,
    ("PATCH", "/invoices/{invoice_id}/payment-plan"): P.PLANS,
    ("POST", "/invoices/{invoice_id}/payment-plan/cancel"): P.PLANS,
    ("POST", "/invoices/{invoice_id}/payment-plan/installments/{seq}/pay"): P.TAKE_PAYMENT,
    ("POST", "/patients/{patient_id}/subscriptions"): P.PLANS,
    ("GET", "/patients/{patient_id}/subscriptions"): P.PATIENTS,
    ("GET", "/subscriptions/{subscription_id}"): P.PATIENTS,
    ("POST", "/subscriptions/{subscription_id}/cancel"): P.PLANS,
    ("POST", "/practices"): P.SETTINGS,  # also needs the platform's admin scope (onboarding)
    ("GET", "/practices/{practice_id}"): P.SETTINGS,
    ("PATCH", "/practices/{practice_id}/settings"): P.SETTINGS,
    ("POST", "/events/encounters"): P.INVOICES_WRITE,
    ("GET", "/reports/payments"): P.REPORTS,
    ("GET", "/reports/receivables"): P.REPORTS,
    ("GET", "/reports/deposits"): P.REPORTS,
    ("GET", "/deposits/{deposit_id}"): P.REPORTS,
    ("GET", "/disputes"): P.DISPUTES,
    ("GET", "/disputes/{dispute_id}"): P.DISPUTES,
    ("GET", "/disputes/{dispute_id}/evidence"): P.DISPUTES,
    ("POST", "/disputes/{dispute_id}/respond"): P.DISPUTES,
    ("POST", "/disputes/{dispute_id}/accept"): P.DISPUTES,
    ("POST", "/invoices/{invoice_id}/pay-links"): P.SEND_PAY_LINK,
    ("GET", "/invoices/{invoice_id}/pay-links"): P.PATIENTS,
    ("POST", "/patients/{patient_id}/pay-links"): P.SEND_PAY_LINK,
    ("POST", "/pay-links/{link_id}/revoke"): P.SEND_PAY_LINK,
    ("GET", "/patients/{patient_id}/messages"): P.PATIENTS,
    ("GET", "/patients/{patient_id}/messaging"): P.PATIENTS,
    ("POST", "/patients/{patient_id}/messaging"): P.PATIENTS_WRITE,
    ("GET", "/invoices/{invoice_id}/messages"): P.PATIENTS,
}
"""Every authorized JSON API route and what a staff token (one with a role claim) needs for it. A token without a
role is the clinical platform's own and is not limited by role."""
