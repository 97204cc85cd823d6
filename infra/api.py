"""The REST API: stage with access and execution logging, X-Ray, throttling and WAF; the JWT authorizer;
routes from infra.definitions.ROUTES; problem+json gateway responses."""

from __future__ import annotations

import json

from aws_cdk import Duration, Names, RemovalPolicy, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_wafv2 as wafv2
from aws_cdk import aws_xray as xray
from constructs import Construct

from infra.definitions import AUTHORIZER_CACHE_SECONDS, DASHBOARD, ROUTES
from practicepay.api.contract import GATEWAY_RESPONSES, HEALTH_BODY, PROBLEM_CONTENT_TYPE, gateway_response_body

BINARY_MEDIA_TYPE = "application/pdf"


class ApiConstruct(Construct):
    NAME = "practicepay"
    STAGE = "v1"
    THROTTLE_RATE = 50
    THROTTLE_BURST = 100
    RATE_LIMIT_PER_IP = 3000
    """Requests per address per 5 minutes, any route."""
    PAY_PAGE_RATE_LIMIT = 1000
    """Requests per address per 5 minutes to the pay page (/pay/…: its pages, assets, forms)."""
    PAY_IDENTITY_RATE_LIMIT = 100
    """Identity answers (POST /pay/{secret}/identity) per address per 5 minutes: a guesser of dates of birth is
    blocked at the edge long before the function's own per-address and per-link counters would have to act."""
    # The URI path WAF sees: /v1/pay/… on the execute-api URL, /pay/… on a custom domain mapped at its root; any
    # one leading segment is accepted so a base path mapping (/billing/pay/…) stays covered.
    PAY_PATH = r"^(/[^/]+)?/pay/"
    PAY_IDENTITY_PATH = r"^(/[^/]+)?/pay/[^/]+/identity/?$"
    # The same paths as an X-Ray sampling rule's URL path (a glob: `*` is any run of characters, `/` included). The
    # leading `*` takes /pay/… and /v1/pay/… alike. API Gateway's segment records the path with the stage in front
    # (AWS's example trace: http.request.url https://example.com/dev?…), but AWS's sampling page says only "the URL
    # path of the request" (an older revision: not supported for API Gateway), so the rule does not depend on
    # which form the sampler is given, nor on a custom domain's base path mapping.
    PAY_SAMPLING_PATH = "*/pay/*"
    PAY_SAMPLING_PRIORITY = 1
    """X-Ray evaluates rules in ascending priority, first match wins; 1 is the highest a rule can have, above the
    account's Default rule (10000) and any rule another team adds that would also match this stage."""

    API_SCOPED_PERMISSIONS = frozenset({DASHBOARD.name})
    """Functions API Gateway may invoke through any of this API's methods with one Lambda permission, instead of
    two per method (the method, and its console test): the dashboard's routes would otherwise add two dozen
    pairs to the stack's 500 resources. Which function serves a route is the API's own definition either way."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        key: kms.IKey,
        authorizer_function: lambda_.IFunction,
        route_functions: dict[str, lambda_.IFunction],
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        self.access_logs = logs.LogGroup(
            self,
            "AccessLogs",
            retention=logs.RetentionDays.ONE_YEAR,
            encryption_key=key,
            removal_policy=removal_policy,
        )
        # API Gateway presents this certificate to backends; with Lambda-only integrations it is unused on the wire
        # but keeps the stage compliant should an HTTP integration be added.
        self.client_certificate = apigw.CfnClientCertificate(self, "ClientCertificate", description="practicepay")
        self.api = apigw.RestApi(
            self,
            "Api",
            rest_api_name=self.NAME,
            description="PracticePay: payments for private medical practices",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            # A dispute's evidence packet is a PDF: the function returns it base64-encoded and API Gateway converts
            # it to bytes when the client accepts application/pdf. Every other route answers text (JSON, CSV, HTML).
            binary_media_types=[BINARY_MEDIA_TYPE],
            cloud_watch_role=True,
            cloud_watch_role_removal_policy=RemovalPolicy.RETAIN,
            deploy_options=apigw.StageOptions(
                stage_name=self.STAGE,
                client_certificate_id=self.client_certificate.attr_client_certificate_id,
                access_log_destination=apigw.LogGroupLogDestination(self.access_logs),
                access_log_format=apigw.AccessLogFormat.json_with_standard_fields(
                    caller=False,
                    http_method=True,
                    ip=True,
                    protocol=True,
                    request_time=True,
                    resource_path=True,
                    response_length=True,
                    status=True,
                    user=False,
                ),
                # Execution logs carry errors only, never request or response bodies (PHI).
                logging_level=apigw.MethodLoggingLevel.ERROR,
                data_trace_enabled=False,
                tracing_enabled=True,
                metrics_enabled=True,
                throttling_rate_limit=self.THROTTLE_RATE,
                throttling_burst_limit=self.THROTTLE_BURST,
            ),
        )
        self.validator = self.api.add_request_validator(
            "Validator", validate_request_parameters=True, validate_request_body=True
        )
        self.authorizer = apigw.RequestAuthorizer(
            self,
            "Authorizer",
            handler=authorizer_function,
            identity_sources=[apigw.IdentitySource.header("Authorization")],
            results_cache_ttl=Duration.seconds(AUTHORIZER_CACHE_SECONDS),
        )
        for kind in GATEWAY_RESPONSES:
            self.api.add_gateway_response(
                f"Gateway{kind.title().replace('_', '')}",
                type=getattr(apigw.ResponseType, kind),
                status_code=str(GATEWAY_RESPONSES[kind][0]),
                response_headers={"Content-Type": f"'{PROBLEM_CONTENT_TYPE}'"},
                templates={"application/json": gateway_response_body(kind)},
            )
        self._routes(route_functions)
        self._untraced_pay_page()
        self._waf(key, removal_policy)

    def _routes(self, route_functions: dict[str, lambda_.IFunction]) -> None:
        integrations = {
            name: apigw.LambdaIntegration(fn, scope_permission_to_method=name not in self.API_SCOPED_PERMISSIONS)
            for name, fn in route_functions.items()
        }
        for route in ROUTES:
            resource = self.api.root.resource_for_path(route.path)
            if route.function is None:
                resource.add_method(
                    route.method,
                    apigw.MockIntegration(
                        request_templates={"application/json": '{"statusCode": 200}'},
                        integration_responses=[
                            apigw.IntegrationResponse(
                                status_code="200", response_templates={"application/json": json.dumps(HEALTH_BODY)}
                            )
                        ],
                    ),
                    method_responses=[apigw.MethodResponse(status_code="200")],
                    authorization_type=apigw.AuthorizationType.NONE,
                )
                continue
            # Public routes with a function: Splash's webhook (the function checks the alert action's static header),
            # GET /openapi.json (the docs function serves the document in its asset) and the pay page (/pay/…: HTML
            # for patients; the function checks the link's secret, the identity answer and its own session cookie).
            # No authorizer, no validator and no Idempotency-Key header: the page's forms carry their own submit ids.
            if not route.authorized:
                resource.add_method(
                    route.method,
                    integrations[route.function],
                    authorization_type=apigw.AuthorizationType.NONE,
                )
                continue
            params = {"method.request.header.Authorization": True}
            if route.method == "POST":
                params["method.request.header.Idempotency-Key"] = True
            resource.add_method(
                route.method,
                integrations[route.function],
                authorizer=self.authorizer,
                authorization_type=apigw.AuthorizationType.CUSTOM,
                request_parameters=params,
                request_validator=self.validator,
            )

    def _untraced_pay_page(self) -> None:
        """Sample no pay page request: API Gateway's trace segment records each request's full URL, and the pay
        page's URL carries the link's secret (/pay/{secret}/…). Every other route keeps the stage's tracing (the
        account's Default rule or any rule an operator adds). Sampling rules are account-wide, so the name is
        unique to this stack and construct (X-Ray allows 32 characters).

        Best effort, not a guarantee: an X-Ray maintainer reports that API Gateway may not apply a rule at about one
        request a second (aws/aws-xray-daemon#163, a FixedRate 0 rule still sampled), so keep the secret out of
        anything else a trace records (the function logs no path; ADR 0015)."""
        rule = xray.CfnSamplingRule(self, "PayNoTrace")
        rule.sampling_rule = xray.CfnSamplingRule.SamplingRuleProperty(
            rule_name=Names.unique_resource_name(rule, max_length=32),
            version=1,
            priority=self.PAY_SAMPLING_PRIORITY,
            fixed_rate=0,
            reservoir_size=0,
            # API Gateway identifies a stage's segments as {api-name}/{stage-name} with origin
            # AWS::ApiGateway::Stage (AWS, "Configure AWS X-Ray sampling rules for API Gateway APIs").
            service_name=f"{self.NAME}/{self.STAGE}",
            service_type="AWS::ApiGateway::Stage",
            resource_arn="*",
            host="*",
            http_method="*",
            url_path=self.PAY_SAMPLING_PATH,
        )

    def _waf(self, key: kms.IKey, removal_policy: RemovalPolicy) -> None:
        def managed(name: str, priority: int, count_rules: tuple[str, ...] = ()) -> wafv2.CfnWebACL.RuleProperty:
            return wafv2.CfnWebACL.RuleProperty(
                name=name,
                priority=priority,
                override_action=wafv2.CfnWebACL.OverrideActionProperty(none={}),
                statement=wafv2.CfnWebACL.StatementProperty(
                    managed_rule_group_statement=wafv2.CfnWebACL.ManagedRuleGroupStatementProperty(
                        vendor_name="AWS",
                        name=name,
                        rule_action_overrides=[
                            wafv2.CfnWebACL.RuleActionOverrideProperty(
                                name=rule, action_to_use=wafv2.CfnWebACL.RuleActionProperty(count={})
                            )
                            for rule in count_rules
                        ]
                        or None,
                    )
                ),
                visibility_config=_visibility(name),
            )

        acl = wafv2.CfnWebACL(
            self,
            "WebAcl",
            scope="REGIONAL",
            default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
            visibility_config=_visibility("practicepay-api"),
            rules=[
                # Invoices may carry up to 256 KB of JSON; the API checks size itself (413), so the 8 KB body
                # rule only counts.
                managed("AWSManagedRulesCommonRuleSet", 1, count_rules=("SizeRestrictions_BODY",)),
                managed("AWSManagedRulesKnownBadInputsRuleSet", 2),
                _rate_limit("RateLimitPerIp", 3, self.RATE_LIMIT_PER_IP),
                _rate_limit(
                    "PayIdentityRateLimitPerIp",
                    4,
                    self.PAY_IDENTITY_RATE_LIMIT,
                    scope_down=wafv2.CfnWebACL.StatementProperty(
                        and_statement=wafv2.CfnWebACL.AndStatementProperty(
                            statements=[_method_is("POST"), _path_matches(self.PAY_IDENTITY_PATH)]
                        )
                    ),
                ),
                _rate_limit(
                    "PayPageRateLimitPerIp", 5, self.PAY_PAGE_RATE_LIMIT, scope_down=_path_matches(self.PAY_PATH)
                ),
            ],
        )
        wafv2.CfnWebACLAssociation(
            self, "WebAclAssociation", resource_arn=self.api.deployment_stage.stage_arn, web_acl_arn=acl.attr_arn
        )
        waf_logs = logs.LogGroup(
            self,
            "WafLogs",
            log_group_name=f"aws-waf-logs-practicepay-{Stack.of(self).stack_name}",  # WAF requires this prefix
            retention=logs.RetentionDays.ONE_YEAR,
            encryption_key=key,
            removal_policy=removal_policy,
        )
        wafv2.CfnLoggingConfiguration(
            self,
            "WafLogging",
            resource_arn=acl.attr_arn,
            log_destination_configs=[waf_logs.log_group_arn],
            # Never log bearer tokens, nor the pay page's session cookie (a patient's verified session), nor the URI
            # path: the pay page's carries a pay link's secret (/pay/{secret}/…), and WAF applies redaction to a
            # field on every request, so every request's path is logged as REDACTED. The cost: WAF logs no longer
            # say which URL a blocked or counted request asked for (its rule, action, method, headers, address and
            # country still); API Gateway's access log keeps the resource template (/pay/{secret}), method, status
            # and address of each request that reached the stage. Nor the query string: the dashboard's patient
            # search is a GET whose query names the patient (?q=<name>&dob=<date>), and that is PHI.
            redacted_fields=[
                wafv2.CfnLoggingConfiguration.FieldToMatchProperty(single_header={"Name": "authorization"}),
                wafv2.CfnLoggingConfiguration.FieldToMatchProperty(single_header={"Name": "cookie"}),
                wafv2.CfnLoggingConfiguration.FieldToMatchProperty(uri_path={}),
                wafv2.CfnLoggingConfiguration.FieldToMatchProperty(query_string={}),
            ],
        )


def _rate_limit(
    name: str, priority: int, limit: int, scope_down: wafv2.CfnWebACL.StatementProperty | None = None
) -> wafv2.CfnWebACL.RuleProperty:
    """Block an address that sent more than `limit` requests (matching `scope_down`, if any) in the last 5 minutes."""
    return wafv2.CfnWebACL.RuleProperty(
        name=name,
        priority=priority,
        action=wafv2.CfnWebACL.RuleActionProperty(block={}),
        statement=wafv2.CfnWebACL.StatementProperty(
            rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(
                limit=limit, aggregate_key_type="IP", evaluation_window_sec=300, scope_down_statement=scope_down
            )
        ),
        visibility_config=_visibility(name),
    )


def _method_is(method: str) -> wafv2.CfnWebACL.StatementProperty:
    return wafv2.CfnWebACL.StatementProperty(
        byte_match_statement=wafv2.CfnWebACL.ByteMatchStatementProperty(
            field_to_match=wafv2.CfnWebACL.FieldToMatchProperty(method={}),
            positional_constraint="EXACTLY",
            search_string=method,
            text_transformations=[wafv2.CfnWebACL.TextTransformationProperty(priority=0, type="NONE")],
        )
    )


def _path_matches(regex: str) -> wafv2.CfnWebACL.StatementProperty:
    """The URI path, percent-decoded, with `//`, `/./` and `/../` resolved and lowercased, matches `regex`: a
    request cannot slip past the rule by spelling the path another way that API Gateway still routes."""
    steps = ("URL_DECODE", "NORMALIZE_PATH", "LOWERCASE")
    return wafv2.CfnWebACL.StatementProperty(
        regex_match_statement=wafv2.CfnWebACL.RegexMatchStatementProperty(
            field_to_match=wafv2.CfnWebACL.FieldToMatchProperty(uri_path={}),
            regex_string=regex,
            text_transformations=[
                wafv2.CfnWebACL.TextTransformationProperty(priority=i, type=step) for i, step in enumerate(steps)
            ],
        )
    )


def _visibility(name: str) -> wafv2.CfnWebACL.VisibilityConfigProperty:
    return wafv2.CfnWebACL.VisibilityConfigProperty(
        cloud_watch_metrics_enabled=True, metric_name=name, sampled_requests_enabled=True
    )


def stage_url(api: apigw.RestApi) -> str:
    """The stage's base URL, no trailing slash, from the API's id and the stage's name as a literal: the stage's
    own name attribute (and `api.url`) is its Ref, and the stage depends on the deployment, which depends on every
    method, which depends on its function, so a function that serves a route may not name it."""
    stack = Stack.of(api)
    return f"https://{api.rest_api_id}.execute-api.{stack.region}.{stack.url_suffix}/{ApiConstruct.STAGE}"
