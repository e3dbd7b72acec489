"""End-to-end harness: a real Envoy running the freshly built plugin, the demo upstream
that records what reaches it, and clients that can send what ordinary clients will not
(repeated headers, lying Content-Length, chunked bodies, HTTP/2 trailers).

One module per job: `processes` (the upstream and Envoy), `config` (Envoy configs
derived from envoy/envoy.yaml), `http1` and `http2` (the clients); `settings` and
`messages` are what they share. Everything is importable from `harness` itself.

Everything listens on 127.0.0.1 and on ports the kernel picks (port 0), read back from
the processes themselves, so runs never race for a port.
"""

from .settings import (  # noqa: F401
    REPO,
    DEMO_ENVOY_YAML,
    DEMO_UPSTREAM,
    WASM,
    ENVOY_BIN,
    WORK,
    START_TIMEOUT,
    REQUEST_TIMEOUT,
    Headers,
)
from .edition import (  # noqa: F401
    EDITIONS,
    NATIVE_LIB,
    set_edition,
    current_edition,
    is_native,
    native_filter,
    to_native,
    plugin_log_mark,
)
from .messages import (  # noqa: F401
    HeaderLookup,
    Recorded,
    Response,
)
from .config import (  # noqa: F401
    load_demo_config,
    hcm,
    wasm_plugin_config,
    demo_policy,
    demo_env,
    for_test,
    build_config,
    listener_on,
)
from .processes import (  # noqa: F401
    _die_with_parent,
    _http,
    wait_until,
    Upstream,
    EnvoyFailedToStart,
    StartFailure,
    Envoy,
    collect_secrets,
    environment,
    require_wasm,
    EnvoyFactory,
    worker_connections,
)
from .http1 import (  # noqa: F401
    read_http1_response,
    _head,
    http1,
    http1_chunked,
    Http1Upload,
    http1_pieces,
    http1_declared_only,
    connect_from,
    http1_from,
)
from .http2 import (  # noqa: F401
    http2,
)
