"""Running the emulator: an HTTPS server in a background thread, for tests, the demo and the CLI.

Guarantees: `start()` returns once the server accepts connections; `url` is `https://127.0.0.1:<port>`
with a certificate that `ca_bundle` verifies; `stop()` shuts the server, the relay and the bulk worker down
and closes the port.
"""

from __future__ import annotations

import logging
import ssl
import threading
from pathlib import Path
from typing import Any

from werkzeug.serving import BaseWSGIServer, make_server

from .app import create_app
from .control import org_ready_line
from .org import Org, OrgConfig
from .relay import RelayTarget


class EmulatorServer:
    """A Salesforce emulator on a local port.

    >>> server = EmulatorServer(package_dir="sfdx-package", var_dir=tmp_path).start()
    >>> server.url, server.ca_bundle, server.clients["integration"]["client_id"], server.control_token
    >>> server.stop()
    """

    def __init__(
        self,
        package_dir: str | Path = "sfdx-package",
        var_dir: str | Path = "var",
        db: str = ":memory:",
        host: str = "127.0.0.1",
        port: int = 0,
        daily_limit: int = 100_000,
        token_ttl: int = 7200,
        relay: RelayTarget | None = None,
        quiet: bool = True,
    ) -> None:
        self.config = OrgConfig(
            package_dir=Path(package_dir),
            var_dir=Path(var_dir),
            db=db,
            daily_limit=daily_limit,
            token_ttl=token_ttl,
            relay=relay,
        )
        self.host = host
        self.port = port
        self.quiet = quiet
        self.org: Org | None = None
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> EmulatorServer:
        if self.quiet:
            logging.getLogger("werkzeug").setLevel(logging.WARNING)
        org = Org(self.config)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(org.tls.cert), str(org.tls.key))
        app = create_app(org)
        self._server = make_server(self.host, self.port, app, threaded=True, ssl_context=context)
        host = "127.0.0.1" if self.host in ("0.0.0.0", "127.0.0.1") else self.host  # noqa: S104
        org.base_url = f"https://{host}:{self._server.server_port}"
        self.org = org
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            name="salesforce-emulator-http",
            kwargs={"poll_interval": 0.1},
            daemon=True,
        )
        self._thread.start()
        return self

    def _org(self) -> Org:
        if self.org is None:
            raise RuntimeError("the emulator is not started")
        return self.org

    @property
    def url(self) -> str:
        return self._org().base_url

    @property
    def ca_bundle(self) -> str:
        return str(self._org().tls.ca_bundle.resolve())

    @property
    def control_token(self) -> str:
        return self._org().control_token

    @property
    def org_id(self) -> str:
        return self._org().store.org_id

    @property
    def clients(self) -> dict[str, dict[str, Any]]:
        return {name: c.public() for name, c in self._org().auth.clients.items()}

    def ready_line(self) -> dict[str, Any]:
        return org_ready_line(self._org())

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self.org is not None:
            self.org.stop()

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
