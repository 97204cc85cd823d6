"""The REST API: stage with access and execution logging, X-Ray, throttling and WAF; the JWT authorizer;
routes from infra.definitions.ROUTES; problem+json gateway responses."""

from __future__ import annotations

import json

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from infra.definitions import AUTHORIZER_CACHE_SECONDS, ROUTES
from practicepay.api.contract import GATEWAY_RESPONSES, HEALTH_BODY, PROBLEM_CONTENT_TYPE, gateway_response_body


class ApiConstruct(Construct):
    STAGE = "v1"
    THROTTLE_RATE = 50
    THROTTLE_BURST = 100

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
            rest_api_name="practicepay",
            description="PracticePay: payments for private medical practices",
            endpoint_types=[apigw.EndpointType.REGIONAL],
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
        self._waf(key, removal_policy)

    def _routes(self, route_functions: dict[str, lambda_.IFunction]) -> None:
        integrations = {name: apigw.LambdaIntegration(fn) for name, fn in route_functions.items()}
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
            # Public routes with a function: Splash's webhook (the function checks the alert action's static header)
            # and GET /openapi.json (the docs function serves the document in its asset).
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
                wafv2.CfnWebACL.RuleProperty(
                    name="RateLimitPerIp",
                    priority=3,
                    action=wafv2.CfnWebACL.RuleActionProperty(block={}),
                    statement=wafv2.CfnWebACL.StatementProperty(
                        rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(
                            limit=3000, aggregate_key_type="IP"
                        )
                    ),
                    visibility_config=_visibility("RateLimitPerIp"),
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
            # Never log bearer tokens.
            redacted_fields=[
                wafv2.CfnLoggingConfiguration.FieldToMatchProperty(
                    single_header={"Name": "authorization"},
                )
            ],
        )


def _visibility(name: str) -> wafv2.CfnWebACL.VisibilityConfigProperty:
    return wafv2.CfnWebACL.VisibilityConfigProperty(
        cloud_watch_metrics_enabled=True, metric_name=name, sampled_requests_enabled=True
    )
