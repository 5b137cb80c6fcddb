"""Webhooks over TLS to a pinned address: the connection goes to the address that was checked,
while SNI and the certificate check still use the webhook's host name (a certificate for the
address, or for another name, is refused)."""

from __future__ import annotations

import datetime as dt
import http.server
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests.adapters
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from authserver.models.webhooks import WebhookDeliveryStatus
from tests.test_webhook_addresses import Resolver, point_webhook
from tests.webhook_deliveries import deliver, delivery_of, enqueue, later

NAME = "hooks.example.test"


def _certificate(subject: str, issuer: x509.Name, issuer_key, key, *, ca: bool) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(subject)]), critical=False
        )
    return builder.sign(issuer_key, hashes.SHA256())


@pytest.fixture
def authority(tmp_path: Path, monkeypatch) -> tuple[Path, ec.EllipticCurvePrivateKey, x509.Name]:
    """A private certificate authority, the only one the worker trusts in these tests."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test Webhook CA")])
    certificate = _certificate("Test Webhook CA", name, key, key, ca=True)
    bundle = tmp_path / "ca.pem"
    bundle.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    monkeypatch.setattr(requests.adapters, "DEFAULT_CA_BUNDLE_PATH", str(bundle))
    return bundle, key, name


@contextmanager
def tls_receiver(authority, tmp_path: Path, served_name: str) -> Iterator[dict]:
    """An HTTPS receiver on 127.0.0.1 with a certificate for `served_name`; records each
    request's SNI and Host."""
    _, ca_key, ca_name = authority
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = _certificate(served_name, ca_name, ca_key, key, ca=False)
    chain, secret = tmp_path / "leaf.pem", tmp_path / "leaf.key"
    chain.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    secret.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    seen: dict = {"sni": [], "hosts": []}
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(chain, secret)
    context.sni_callback = lambda sock, server_name, ctx: seen["sni"].append(server_name)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            seen["hosts"].append(self.headers["Host"])
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    seen["port"] = server.server_address[1]
    try:
        yield seen
    finally:
        server.shutdown()
        server.server_close()


def test_tls_goes_to_the_checked_address_with_the_hosts_name(
    app, vendor_app, monkeypatch, authority, tmp_path
) -> None:
    application, _ = vendor_app
    with tls_receiver(authority, tmp_path, NAME) as seen:
        resolver = Resolver(NAME, "127.0.0.1")
        monkeypatch.setattr(socket, "getaddrinfo", resolver)
        point_webhook(app, application.id, f"https://{NAME}:{seen['port']}/hooks")
        delivery_id = enqueue(app, application.id)
        assert deliver(app, later()) == {"delivered": 1, "failed": 0}
    assert resolver.lookups == 1
    assert seen["sni"] == [NAME]
    assert seen["hosts"] == [f"{NAME}:{seen['port']}"]
    assert delivery_of(app, delivery_id).status == WebhookDeliveryStatus.DELIVERED


def test_a_certificate_for_another_name_is_refused(
    app, vendor_app, monkeypatch, authority, tmp_path
) -> None:
    application, _ = vendor_app
    with tls_receiver(authority, tmp_path, "someone-else.example.test") as seen:
        monkeypatch.setattr(socket, "getaddrinfo", Resolver(NAME, "127.0.0.1"))
        point_webhook(app, application.id, f"https://{NAME}:{seen['port']}/hooks")
        delivery_id = enqueue(app, application.id)
        assert deliver(app, later()) == {"delivered": 0, "failed": 1}
    assert seen["hosts"] == []
    delivery = delivery_of(app, delivery_id)
    assert delivery.status == WebhookDeliveryStatus.RETRYING
    assert delivery.last_error == "TLS failed (certificate or handshake)"
