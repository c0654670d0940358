"""TLS for the simulator, for clients that speak ``wss://`` only: a certificate made at start
(``make_tls``, with ``trustme``: ``pip install 'realtime-dispatch[tls]'``) or one's own (``load_tls``)."""

from __future__ import annotations

import ssl
import tempfile
from pathlib import Path

__all__ = ("INSTALL_TLS", "TLSUnavailable", "load_tls", "make_tls")

INSTALL_TLS = "pip install 'realtime-dispatch[tls]'"
HOSTS = ("localhost", "127.0.0.1", "::1")


class TLSUnavailable(RuntimeError):
    """``make_tls`` needs ``trustme``, which is not installed."""


def make_tls(directory: str | Path | None = None) -> tuple[ssl.SSLContext, Path]:
    """A server-side SSL context with a certificate for localhost, 127.0.0.1 and ::1, issued by a
    private CA made for the occasion; and the path of that CA's certificate (``ca.pem``, written to
    ``directory``, by default a new temporary directory), for clients to trust.

    >>> context, ca_file = make_tls()
    >>> # async with Simulator().serve(tls=context) as base_url: ...  (wss://127.0.0.1:PORT/v1)
    >>> # client side: ssl.create_default_context(cafile=ca_file)

    Raises ``TLSUnavailable`` when ``trustme`` is missing.
    """
    try:
        import trustme
    except ImportError:
        raise TLSUnavailable(f"making a TLS certificate needs trustme: {INSTALL_TLS}") from None
    folder = Path(directory) if directory is not None else Path(tempfile.mkdtemp(prefix="realtime-dispatch-tls-"))
    authority = trustme.CA(organization_name="realtime-dispatch simulator")
    certificate = authority.issue_cert(*HOSTS)
    ca_file = folder / "ca.pem"
    authority.cert_pem.write_to_path(str(ca_file))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    certificate.configure_cert(context)
    return context, ca_file


def load_tls(certfile: str | Path, keyfile: str | Path | None = None) -> ssl.SSLContext:
    """A server-side SSL context serving one's own certificate chain (PEM; the key in ``certfile``
    when ``keyfile`` is None)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certfile, keyfile)
    return context
