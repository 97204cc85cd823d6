"""The Splash sandbox: a local HTTP server that speaks the Splash Payments / Payrix REST API.

The wire format and the choices made for the points the public sources leave open are fixed by
docs/adr/0004-splash-sandbox-contract.md; the facts behind it are in ../shared/splash-api.md.

    from local.sandbox.server import SandboxSettings, SplashSandbox
    sandbox = SplashSandbox(SandboxSettings())
    handle = sandbox.serve("127.0.0.1", 3001)

Modules: `settings` (the knobs), `tables` (every code, trigger and test account: the one source),
`errors` (Splash error items), `payments` (card and bank validation), `store` (records, ids, the sandbox
clock), `query` (SEARCH, paging, expand), `resources` (the resource schemas and the plain CRUD rules),
`boarding` (entities and merchant boarding), `rules` (the txn state machine, declines, settlement, funding,
returns), `alerts` (web alert delivery), `traffic` (rate limits, injected faults, REQUEST-TOKEN replay, the
request log) and `server` (the WSGI routes and `/_sandbox/*`).
"""
