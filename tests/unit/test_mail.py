"""Mail: the SMTP URL, the message, a real SMTP conversation (plain, STARTTLS, TLS, certificates checked) and the retry schedule."""
import email
import socket
import ssl
from datetime import datetime, timedelta, timezone

import pytest
import trustme
from aiosmtpd.controller import Controller

from app import mail
from app.services import mail as mail_service
from app.storage.memory import MemoryStore

MESSAGE = {"id": "01msg", "to": "sam@example.com", "subject": "Your invitation to Ye Olde Shoppe",
           "text": "Your code:\n\n7KQ2M9XD4TFAP8WR\n\nÜnïcode too.\n", "created_at": "2026-11-21T10:15:00Z"}


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Inbox:
    """An aiosmtpd handler keeping what it was sent; `answers` says what to reply, in turn."""

    def __init__(self, answers=()):
        self.received, self.answers = [], list(answers)

    async def handle_DATA(self, server, session, envelope):
        if self.answers:
            answer = self.answers.pop(0)
            if not answer.startswith("250"):
                return answer
        self.received.append(email.message_from_bytes(envelope.content))
        return "250 OK"


@pytest.fixture
def ca(monkeypatch, tmp_path):
    """A CA of the test's own, trusted as the system's would be (SSL_CERT_FILE), and a server
    certificate for 127.0.0.1."""
    authority = trustme.CA()
    pem = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(pem))
    monkeypatch.setenv("SSL_CERT_FILE", str(pem))
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(server)
    return server


@pytest.fixture
def smtp_server():
    started = []

    def start(handler, **kwargs):
        port = free_port()
        controller = Controller(handler, hostname="127.0.0.1", port=port, **kwargs)
        controller.start()
        started.append(controller)
        return port
    yield start
    for controller in started:
        controller.stop()


def test_the_smtp_url_is_read_with_its_defaults_and_decoded_credentials():
    plain = mail.smtp_settings("smtp://mail.example")
    assert (plain.host, plain.port, plain.tls, plain.starttls, plain.user) == ("mail.example", 25, False, False, None)
    upgraded = mail.smtp_settings("smtp://shop%40example.com:p%40ss%3Aword@mail.example:587?starttls=true")
    assert (upgraded.port, upgraded.starttls, upgraded.user, upgraded.password) == \
        (587, True, "shop@example.com", "p@ss:word")
    tls = mail.smtp_settings("smtps://u:p@mail.example")
    assert (tls.port, tls.tls) == (465, True)
    assert "p@ss" not in repr(upgraded)


@pytest.mark.parametrize("url", ["http://mail.example", "smtp://", "smtp://h:notaport", "smtps://h?starttls=true",
                                 "smtp://h?colour=blue", "mail.example:25"])
def test_a_smtp_url_that_does_not_parse_stops_the_start_naming_the_variable(url):
    with pytest.raises(mail.ConfigError, match="SHOP_SMTP_URL"):
        mail.smtp_settings(url)


def test_a_message_has_every_header_a_mail_client_expects():
    built = mail.build(MESSAGE, "noreply@shop.example", "Ye Olde Shoppe")
    assert built["From"] == "Ye Olde Shoppe <noreply@shop.example>"
    assert built["To"] == "sam@example.com" and built["Auto-Submitted"] == "auto-generated"
    assert built["Message-ID"] == "<01msg@shop.example>" and built["Date"].endswith("+0000")
    assert built.get_content_type() == "text/plain" and built.get_content_charset() == "utf-8"
    assert mail.build(MESSAGE, "Shop Robot <robot@shop.example>", "X")["From"] == "Shop Robot <robot@shop.example>"


def test_plain_smtp_delivers_the_message(smtp_server):
    inbox = Inbox()
    port = smtp_server(inbox)
    mail.deliver(mail.build(MESSAGE, "noreply@localhost", "Shop"), mail.smtp_settings(f"smtp://127.0.0.1:{port}"))
    [got] = inbox.received
    assert got["Subject"] == MESSAGE["subject"]
    assert "7KQ2M9XD4TFAP8WR" in got.get_payload(decode=True).decode("utf-8").splitlines()


def test_starttls_upgrades_and_checks_the_certificate(smtp_server, ca):
    inbox = Inbox()
    port = smtp_server(inbox, tls_context=ca, require_starttls=True)
    settings = mail.smtp_settings(f"smtp://127.0.0.1:{port}?starttls=true")
    mail.deliver(mail.build(MESSAGE, "noreply@localhost", "Shop"), settings)
    assert len(inbox.received) == 1
    with pytest.raises(mail.Refused):  # a server that wants TLS is not sent the message in clear
        mail.deliver(mail.build(MESSAGE, "noreply@localhost", "Shop"), mail.smtp_settings(f"smtp://127.0.0.1:{port}"))
    assert len(inbox.received) == 1


def test_a_certificate_the_machine_does_not_trust_is_refused(smtp_server, ca, monkeypatch, tmp_path):
    inbox = Inbox()
    port = smtp_server(inbox, tls_context=ca, require_starttls=True)
    stranger = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(stranger))
    monkeypatch.setenv("SSL_CERT_FILE", str(stranger))
    with pytest.raises(mail.Refused, match="SSL|certificate"):
        mail.deliver(mail.build(MESSAGE, "noreply@localhost", "Shop"),
                     mail.smtp_settings(f"smtp://127.0.0.1:{port}?starttls=true"))
    assert inbox.received == []


def test_smtps_speaks_tls_from_the_first_byte(smtp_server, ca):
    inbox = Inbox()
    port = smtp_server(inbox, ssl_context=ca)
    mail.deliver(mail.build(MESSAGE, "noreply@localhost", "Shop"), mail.smtp_settings(f"smtps://127.0.0.1:{port}"))
    assert len(inbox.received) == 1


def test_a_4xx_is_refused_for_now_and_a_5xx_for_good(smtp_server):
    inbox = Inbox(["451 4.3.0 try again later", "550 5.7.1 no thanks", "250"])
    port = smtp_server(inbox)
    settings = mail.smtp_settings(f"smtp://127.0.0.1:{port}")
    built = mail.build(MESSAGE, "noreply@localhost", "Shop")
    with pytest.raises(mail.Refused) as later:
        mail.deliver(built, settings)
    assert not later.value.permanent and "451" in str(later.value)
    with pytest.raises(mail.Refused) as never:
        mail.deliver(built, settings)
    assert never.value.permanent
    mail.deliver(built, settings)
    assert len(inbox.received) == 1


def test_no_server_listening_is_refused_for_now():
    with pytest.raises(mail.Refused) as refused:
        mail.deliver(mail.build(MESSAGE, "noreply@localhost", "Shop"), mail.smtp_settings(f"smtp://127.0.0.1:{free_port()}"))
    assert not refused.value.permanent


def test_without_a_server_each_message_is_one_eml_file(tmp_path):
    path = mail.deliver(mail.build(MESSAGE, "noreply@localhost", "Shop"), None, str(tmp_path / "outbox"),
                        "20261121T101500000000Z-01msg.eml")
    assert email.message_from_bytes(open(path, "rb").read())["To"] == "sam@example.com"
    assert [p.name for p in (tmp_path / "outbox").iterdir()] == ["20261121T101500000000Z-01msg.eml"]


def queued(store, created_at="2026-11-21T10:00:00Z"):
    with store.unit_of_work() as uow:
        message = mail_service.queue_message(uow, "invite", "sam@example.com", "Hi", "text")
        message["created_at"] = created_at
        uow.outbox.save(message)
        uow.commit()
    return message


def test_a_refused_message_waits_10_s_1_min_5_min_30_min_then_2_hours_and_fails_after_24_hours():
    store = MemoryStore()
    message = queued(store)
    start = datetime(2026, 11, 21, 10, 0, tzinfo=timezone.utc)
    now, waits = start, []
    while True:
        with store.unit_of_work() as uow:
            later = mail_service.record_attempt(uow, message["id"], "SMTP 451: busy", now=now)
            uow.commit()
        if later is None:
            break
        waits.append((later - now).total_seconds())
        now = later
    assert waits[:6] == [10, 60, 300, 1800, 7200, 7200]
    assert now == start + timedelta(hours=24)  # the last attempt is at the 24th hour
    with store.reader() as uow:
        final = uow.outbox.get(message["id"])
    assert final["status"] == "failed" and final["text"] is None and final["last_error"] == "SMTP 451: busy"


def test_a_sent_message_forgets_its_text_and_a_5xx_fails_at_once():
    store = MemoryStore()
    sent, rejected = queued(store), queued(store)
    with store.unit_of_work() as uow:
        mail_service.record_attempt(uow, sent["id"])
        assert mail_service.record_attempt(uow, rejected["id"], "SMTP 550: no", permanent=True) is None
        uow.commit()
    with store.reader() as uow:
        assert uow.outbox.get(sent["id"])["status"] == "sent" and uow.outbox.get(sent["id"])["text"] is None
        assert uow.outbox.get(rejected["id"])["status"] == "failed"
    assert "text" not in mail_service.outbox_view(uow.outbox.get(sent["id"]) if False else sent)
