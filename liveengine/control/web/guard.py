"""Who may open the web panel: the checks every request passes before the page or the WebSocket.

- Loopback by default. A panel on another address (a phone on the LAN) needs the session's
  token, which the printed address carries (`?token=`); the page then keeps it in a cookie
  that only this site gets (SameSite=Strict, HttpOnly).
- `Host` must name this machine: a loopback name on loopback; on the LAN an address
  literal, `localhost` or this machine's own name. A web page elsewhere that points a domain
  of its own at 127.0.0.1 (DNS rebinding) sends its own name and is refused.
- `Origin`, on the WebSocket upgrade, must be this very page (`http://` + Host): another
  site's page in the same browser cannot open the socket. A client that sends no Origin
  (not a browser) passes this check and still needs the token off loopback.
"""

from __future__ import annotations

import hmac
import ipaddress
import socket
from urllib.parse import urlsplit

TOKEN_COOKIE = "liveengine-token"
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _address_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return False


def host_name(header: str) -> str:
    """The host part of a Host header (`127.0.0.1:8765` -> 127.0.0.1, `[::1]:8765` -> ::1); '' when unreadable."""
    try:
        return (urlsplit("//" + header).hostname or "").lower()
    except ValueError:
        return ""


def host_refusal(header: str | None, loopback_only: bool) -> str:
    """Why this Host header is refused ('' when it is fine)."""
    if not header:
        return "the request names no Host"
    name = host_name(header)
    if loopback_only:
        if name in LOOPBACK_NAMES or (_address_literal(name) and is_loopback(name)):
            return ""
        return f"Host {header!r} is not this panel's address; it serves 127.0.0.1 and localhost only"
    machine = socket.gethostname().lower()
    if _address_literal(name) or name in ("localhost", machine, f"{machine}.local"):
        return ""
    return f"Host {header!r} is not this machine: use the address liveengine printed"


def origin_refusal(origin: str | None, host_header: str | None) -> str:
    """Why a WebSocket upgrade's Origin is refused ('' when it is this page, or absent)."""
    if origin is None:
        return ""
    if origin.lower() != f"http://{(host_header or '').lower()}":
        return f"Origin {origin!r} is not this panel's page (http://{host_header})"
    return ""


def token_matches(given: str | None, token: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), token.encode())


def lan_address() -> str:
    """This machine's address on its LAN, for the printed URL (no packet is sent: a UDP connect only picks the route)."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("192.0.2.1", 9))  # TEST-NET-1: never routed anywhere, but the kernel picks the outgoing address
        return probe.getsockname()[0]
    except OSError:
        return socket.gethostname()
    finally:
        probe.close()
