"""Webhooks: where a delivery may connect. Each attempt resolves the host once and connects only
to the addresses it checked; production refuses internal ones; unreachable hosts read alike."""

from __future__ import annotations

import dataclasses
import socket
from collections.abc import Iterator

import pytest

from authserver import webhooks
from authserver.extensions import db
from authserver.models import Application
from authserver.models.webhooks import WebhookDeliveryStatus
from tests.webhook_deliveries import deliver, delivery_of, enqueue, later
from tests.webhook_receiver import Receiver, free_port


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


@pytest.mark.parametrize(
    ("url", "refused"),
    [
        ("https://127.0.0.1/hook", True),
        ("https://10.1.2.3/hook", True),
        ("https://192.168.0.10/hook", True),
        ("https://169.254.169.254/latest/meta-data", True),
        ("https://[::1]/hook", True),
        ("https://localhost/hook", True),
        ("https://[64:ff9b::7f00:1]/hook", True),
        ("https://[2002:a00:1::1]/hook", True),
        ("https://8.8.8.8/hook", False),
        ("https://[2606:4700:4700::1111]/hook", False),
        ("https://[64:ff9b::808:808]/hook", False),
        ("https://[2002:808:808::1]/hook", False),
    ],
)
def test_a_production_server_never_sends_into_a_private_network(url: str, refused: bool) -> None:
    from authserver.webhooks import refuses_internal_address

    assert (refuses_internal_address(url) is not None) == refused


# --- Where a delivery may connect ----------------------------------------------------------------


class Resolver:
    """DNS for one name, as a vendor who controls it could answer: each lookup of `name` gets
    the next of `answers` (the last one for ever after); other names resolve as usual."""

    def __init__(self, name: str, *answers: str) -> None:
        self.name, self.answers, self.lookups = name, list(answers), 0
        self.real = socket.getaddrinfo

    def __call__(self, host, port, *args, **kwargs):
        if host != self.name:
            return self.real(host, port, *args, **kwargs)
        address = self.answers[min(self.lookups, len(self.answers) - 1)]
        self.lookups += 1
        return self.real(address, port, *args, **kwargs)


@pytest.fixture
def production(app, monkeypatch) -> None:
    """The worker as a production server runs it (the address check is on)."""
    settings = dataclasses.replace(app.config["SETTINGS"], env="production")
    monkeypatch.setitem(app.config, "SETTINGS", settings)


def point_webhook(app, application_id: int, url: str) -> None:
    with app.app_context():
        webhooks.set_webhook(db.session.get(Application, application_id), url)
        db.session.commit()


def test_a_delivery_connects_only_to_the_address_it_resolved(app, vendor_app, monkeypatch) -> None:
    """DNS rebinding: the name answers a harmless address first and an internal one after. The
    delivery resolves once and connects to that very address, with the name as its Host."""
    application, _ = vendor_app
    with Receiver() as receiver, Receiver(receiver.port, host="127.0.0.2") as internal:
        point_webhook(app, application.id, f"http://localhost:{receiver.port}/hooks/school-data")
        resolver = Resolver("localhost", "127.0.0.1", "127.0.0.2")
        monkeypatch.setattr(socket, "getaddrinfo", resolver)
        delivery_id = enqueue(app, application.id)
        assert deliver(app, later()) == {"delivered": 1, "failed": 0}
    assert resolver.lookups == 1
    [received] = receiver.requests
    assert received.headers["Host"] == f"localhost:{receiver.port}"
    assert received.path == "/hooks/school-data"
    assert internal.connections == 0
    assert delivery_of(app, delivery_id).status == WebhookDeliveryStatus.DELIVERED


def test_each_attempt_resolves_afresh_and_production_checks_that_answer(
    app, vendor_app, monkeypatch, production
) -> None:
    """A name whose first answer is internal is refused, with no connection made; it is looked up
    again at the next attempt, and refused again while any of its addresses is internal."""
    application, _ = vendor_app
    with Receiver() as receiver:
        point_webhook(app, application.id, "https://hooks.vendor.test/school-data")
        resolver = Resolver("hooks.vendor.test", "127.0.0.1", "10.0.0.7")
        monkeypatch.setattr(socket, "getaddrinfo", resolver)
        delivery_id = enqueue(app, application.id)
        assert deliver(app, later())["failed"] == 1
        assert deliver(app, later(60))["failed"] == 1
    assert resolver.lookups == 2
    assert receiver.connections == 0
    assert delivery_of(app, delivery_id).last_error == webhooks.UNREACHABLE


REFUSED_ADDRESSES = [
    ("127.0.0.1", "loopback"),
    ("10.1.2.3", "private"),
    ("172.16.0.1", "private"),
    ("192.168.0.10", "private"),
    ("169.254.169.254", "link-local (cloud metadata)"),
    ("100.64.0.1", "shared address space (CGNAT)"),
    ("0.0.0.0", "unspecified"),  # noqa: S104 (an address refused, not one listened on)
    ("192.0.2.1", "documentation"),
    ("224.0.0.251", "multicast"),
    ("255.255.255.255", "broadcast"),
    ("::1", "IPv6 loopback"),
    ("::", "IPv6 unspecified"),
    ("fe80::1", "IPv6 link-local"),
    ("fd00::1", "IPv6 unique local"),
    ("ff02::1", "IPv6 multicast"),
    ("::ffff:127.0.0.1", "IPv4-mapped loopback"),
    ("::ffff:169.254.169.254", "IPv4-mapped link-local"),
    ("::127.0.0.1", "IPv4-compatible loopback"),
    ("::10.0.0.1", "IPv4-compatible private"),
    ("64:ff9b::7f00:1", "NAT64 of loopback"),
    ("64:ff9b::a9fe:a9fe", "NAT64 of link-local"),
    ("64:ff9b::c0a8:1", "NAT64 of private"),
    ("64:ff9b:1::a00:1", "local-use NAT64"),
    ("2002:7f00:1::1", "6to4 of loopback"),
    ("2002:a00:1::1", "6to4 of private"),
    ("2002:a9fe:a9fe::1", "6to4 of link-local"),
]


@pytest.mark.parametrize(("address", "form"), REFUSED_ADDRESSES)
def test_a_production_server_refuses_every_form_of_an_internal_address(
    app, vendor_app, receiver, monkeypatch, production, address: str, form: str
) -> None:
    """Whatever form the internal address takes, nothing is sent, and the vendor reads the same
    words as for a host that is down: nothing to tell a closed port from a refusal."""
    application, _ = vendor_app
    point_webhook(app, application.id, f"https://hooks.vendor.test:{receiver.port}/school-data")
    monkeypatch.setattr(socket, "getaddrinfo", Resolver("hooks.vendor.test", address))
    delivery_id = enqueue(app, application.id)
    assert deliver(app, later()) == {"delivered": 0, "failed": 1}
    assert receiver.connections == 0
    delivery = delivery_of(app, delivery_id)
    assert (delivery.status, delivery.last_error) == ("retrying", webhooks.UNREACHABLE)
    assert address not in (delivery.last_error or "")


@pytest.mark.parametrize(
    "url", ["https://127.0.0.1:1/hook", "https://no-such-host.invalid/hook", "http://127.0.0.1:1/x"]
)
def test_a_closed_port_an_unknown_name_and_a_refusal_read_alike(
    app, vendor_app, monkeypatch, url: str
) -> None:
    """What the vendor's page shows for a host that cannot be reached, in production (refused
    here) or in development (tried, and nobody listening): the one generic message."""
    application, _ = vendor_app
    point_webhook(app, application.id, url.replace(":1/", f":{free_port()}/"))
    delivery_id = enqueue(app, application.id)
    assert deliver(app, later())["failed"] == 1
    development_error = delivery_of(app, delivery_id).last_error
    monkeypatch.setitem(
        app.config, "SETTINGS", dataclasses.replace(app.config["SETTINGS"], env="production")
    )
    assert deliver(app, later(60))["failed"] == 1
    assert development_error == delivery_of(app, delivery_id).last_error == webhooks.UNREACHABLE


def test_a_name_server_that_never_answers_cannot_hold_the_worker(
    app, vendor_app, monkeypatch
) -> None:
    """The lookup has the delivery's own time limit; past it the delivery fails as an
    unreachable host, and is retried later."""
    import threading

    application, _ = vendor_app
    point_webhook(app, application.id, "https://slow-dns.example.test/hook")
    answered, returned = threading.Event(), threading.Event()
    real = socket.getaddrinfo

    def silent(host, *args, **kwargs):
        if host == "slow-dns.example.test":
            answered.wait(30)  # released when the test ends
            returned.set()
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", silent)
    delivery_id = enqueue(app, application.id)
    try:
        assert deliver(app, later()) == {"delivered": 0, "failed": 1}
        assert not returned.is_set()  # the worker went on without waiting for the lookup
    finally:
        answered.set()
    delivery = delivery_of(app, delivery_id)
    assert (delivery.status, delivery.last_error) == ("retrying", webhooks.UNREACHABLE)
