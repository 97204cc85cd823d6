"""The embedded AWS: moto's server over HTTP (boto3 reaches it exactly as it reaches AWS), one request at a time.

Real DynamoDB makes each TransactWriteItems atomic and serializable against every other write to its items.
moto's in-memory backend does not when two requests run on two threads: a transaction's condition can pass
for both. Serving one request at a time gives the embedded AWS the isolation the code relies on in AWS, so a
test with real threads racing tests our conditions, not moto's thread safety.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import BaseWSGIServer, make_server


class _OneAtATime:
    def __init__(self, app: Callable) -> None:
        self._app = app
        self._lock = threading.Lock()

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        with self._lock:
            # The body is read inside the lock: moto answers with a complete body, never a stream.
            return list(self._app(environ, start_response))


class EmbeddedAws:
    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._server: BaseWSGIServer = make_server(
            host,
            port,
            _OneAtATime(DomainDispatcherApplication(create_backend_app)),
            threaded=True,
            request_handler=MotoRequestHandler,
        )
        self._thread = threading.Thread(target=self._server.serve_forever, name="embedded-aws", daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> EmbeddedAws:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join()
