"""Serving the console: ``dq serve`` in the foreground, ``dq.show()`` on a background thread.

The server binds 127.0.0.1 by default and then needs no token. Any other address (``0.0.0.0``, a
LAN address) needs an access token, generated when none is given and printed once; every request
must then carry it (see :func:`dataquality.server.app.create_app`).
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import quote

DEFAULT_PORT = 8765


def is_loopback(host: str) -> bool:
    """Whether ``host`` only listens on this machine (127.0.0.0/8, ::1, ``localhost``)."""
    h = host.strip("[]")
    if h == "localhost":
        return True
    try:
        return ipaddress.ip_address(h).is_loopback
    except ValueError:
        return False


def resolve_token(host: str, token: str | None) -> str | None:
    """The token to enforce: the given one, none on loopback, else a fresh random one."""
    if token:
        return token
    return None if is_loopback(host) else secrets.token_urlsafe(24)


def url_for(host: str, port: int, project: str | None = None, run: str | None = None,
            token: str | None = None) -> str:
    """The console URL: ``http://host:port/`` or the run's page ``/runs/<project>/<run>``."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else "[::1]" if host == "::" else host
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    path = "/" if project is None else f"/runs/{quote(project)}/{quote(run or '')}"
    return f"http://{shown}:{port}{path}" + (f"?token={quote(token)}" if token else "")


def require_console() -> None:
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        raise ImportError("The console needs FastAPI and uvicorn: pip install 'dataquality[console]'.") from None


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted connections inherit this: without it a kept-alive connection waits ≈ 40 ms per
    # response (uvicorn writes head and body separately; Nagle holds the body for the delayed ACK).
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError:
        sock.close()
        raise
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def _allowed_hosts(host: str):
    from .app import LOOPBACK_HOSTS

    if not is_loopback(host):
        return None  # the token guards it
    return LOOPBACK_HOSTS


def serve(root: str | os.PathLike | None = None, *, host: str = "127.0.0.1", port: int = DEFAULT_PORT,
          token: str | None = None, log_level: str = "warning", open_run: tuple[str, str] | None = None) -> None:
    """Serve the console in the foreground until interrupted (``dq serve``). ``open_run``:
    ``(project, run)`` whose page URL to print (``dq demo``); when ``port`` is taken and
    ``open_run`` is given, any free port is used instead."""
    require_console()
    import uvicorn

    from ..core import store
    from ..exceptions import ConfigurationError
    from .app import create_app

    tok = resolve_token(host, token)
    try:
        sock = _bind(host, port)
    except OSError as e:
        if open_run is None:
            raise ConfigurationError(f"dq serve: cannot listen on {host}:{port} ({e.strerror}); pass another --port.") from None
        sock = _bind(host, 0)
    port = sock.getsockname()[1]
    app = create_app(root, token=tok, allowed_hosts=_allowed_hosts(host))
    print(f"dataquality console over {store.root_dir(root)} (Ctrl-C to stop)")
    if open_run is not None:
        print(f"  open {url_for(host, port, open_run[0], open_run[1], token=tok)}")
    else:
        print(f"  {url_for(host, port, token=tok)}")
    if tok and not token:
        print(f"  access token (shown once): {tok}")
    print("  API docs: " + url_for(host, port).rstrip("/") + "/api/docs" + ("  (send the token)" if tok else ""))
    config = uvicorn.Config(app, log_level=log_level, lifespan="off")
    uvicorn.Server(config).run(sockets=[sock])


@dataclass
class ConsoleServer:
    """A console served on a background thread (what :func:`dataquality.show` starts)."""

    root: str
    host: str
    port: int
    token: str | None
    server: object = field(repr=False)
    thread: threading.Thread = field(repr=False)

    def url(self, project: str | None = None, run: str | None = None) -> str:
        return url_for(self.host, self.port, project, run, self.token)

    @property
    def alive(self) -> bool:
        return self.thread.is_alive()

    def stop(self, timeout: float = 5.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout)


_background: ConsoleServer | None = None
_lock = threading.Lock()


def start_background(root: str | os.PathLike | None = None, *, host: str = "127.0.0.1", port: int | None = None,
                     token: str | None = None, log_level: str = "warning") -> ConsoleServer:
    """Start (or reuse) the console on a daemon thread and wait until it accepts connections.

    ``port=None`` tries :data:`DEFAULT_PORT`, then any free port. A server already running for the
    same store root and host is reused.
    """
    global _background
    require_console()
    import uvicorn

    from ..core import store
    from ..exceptions import ConfigurationError
    from .app import create_app

    root_s = str(store.root_dir(root))
    with _lock:
        b = _background
        if b is not None and b.alive and b.root == root_s and b.host == host and (port is None or port == b.port):
            return b
        if b is not None and b.alive:
            b.stop()
        tok = resolve_token(host, token)
        try:
            sock = _bind(host, DEFAULT_PORT if port is None else port)
        except OSError as e:
            if port is not None:
                raise ConfigurationError(f"dq.show: cannot listen on {host}:{port} ({e.strerror}); pass another `port`.") from None
            sock = _bind(host, 0)
        app = create_app(root_s, token=tok, allowed_hosts=_allowed_hosts(host))
        server = uvicorn.Server(uvicorn.Config(app, log_level=log_level, lifespan="off"))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="dq-console", daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started and thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.02)
        if not server.started:
            server.should_exit = True
            raise ConfigurationError(f"dq.show: the console did not start on {host}:{sock.getsockname()[1]}.")
        _background = ConsoleServer(root_s, host, sock.getsockname()[1], tok, server, thread)
        return _background


def stop_background() -> None:
    """Stop the console started by :func:`dataquality.show`, if any."""
    global _background
    with _lock:
        if _background is not None:
            _background.stop()
            _background = None
