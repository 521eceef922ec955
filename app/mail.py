"""Sending mail: one RFC 5322 message over SMTP (plain, STARTTLS or TLS, certificates verified) or as a .eml file.

Services queue messages (app/services/mail.py); the background process sends them through
`deliver` after the commit, so a slow or failing mail server never touches a request.
"""
import os
import smtplib
import socket
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formataddr, format_datetime, parseaddr
from datetime import datetime, timezone
from urllib.parse import parse_qs, unquote, urlsplit

TIMEOUT = 20.0


class ConfigError(ValueError):
    """A setting that cannot work; the message names the variable."""


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    tls: bool          # smtps://: TLS from the first byte
    starttls: bool     # smtp://...?starttls=true: upgrade after EHLO
    user: str | None
    password: str | None

    def __repr__(self):  # never the password, not even in a traceback's locals
        return f"SmtpSettings({self.host}:{self.port}, tls={self.tls}, starttls={self.starttls})"


def smtp_settings(url):
    """SHOP_SMTP_URL read: smtp://user:password@host:port?starttls=true or smtps://...; user and
    password percent-decoded. A URL that does not parse is a ConfigError naming the variable."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ConfigError(f"SHOP_SMTP_URL is not a valid URL: {exc}") from None
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ConfigError("SHOP_SMTP_URL must look like smtp://user:password@host:port "
                          "(?starttls=true to upgrade) or smtps://user:password@host:port")
    query = parse_qs(parts.query)
    unknown = set(query) - {"starttls"}
    if unknown:
        raise ConfigError(f"SHOP_SMTP_URL has unknown parameters: {', '.join(sorted(unknown))}")
    starttls = query.get("starttls", ["false"])[-1].lower() in ("1", "true", "yes", "on")
    tls = parts.scheme == "smtps"
    if tls and starttls:
        raise ConfigError("SHOP_SMTP_URL: smtps:// is TLS already; leave out starttls")
    return SmtpSettings(parts.hostname, port or (465 if tls else 25), tls, starttls,
                        unquote(parts.username) if parts.username else None,
                        unquote(parts.password) if parts.password else None)


class Refused(Exception):
    """The mail server did not take the message. `permanent` for a 5xx answer."""

    def __init__(self, text, permanent=False):
        super().__init__(text)
        self.permanent = permanent


def build(message, sender, shop_name):
    """The RFC 5322 message of an outbox record."""
    mail = EmailMessage()
    name, address = parseaddr(sender)
    mail["From"] = sender if name else formataddr((shop_name, address))
    mail["To"] = message["to"]
    mail["Subject"] = message["subject"]
    mail["Date"] = format_datetime(datetime.strptime(message["created_at"], "%Y-%m-%dT%H:%M:%SZ")
                                   .replace(tzinfo=timezone.utc))
    # one id per queued message, the same on every attempt: a receiver can drop a repeat
    mail["Message-ID"] = f"<{message['id']}@{address.rpartition('@')[2] or 'backroom'}>"
    mail["Auto-Submitted"] = "auto-generated"
    mail.set_content(message["text"], charset="utf-8")
    return mail


def deliver(mail, settings=None, outbox_dir=None, file_name=None):
    """Hand one message over: to the SMTP server of `settings`, or as a file in outbox_dir
    (written under another name, fsynced, then renamed). Refused when the server does not take it."""
    if settings is None:
        os.makedirs(outbox_dir, exist_ok=True)
        path = os.path.join(outbox_dir, file_name)
        tmp = os.path.join(outbox_dir, f".{file_name}.{os.getpid()}.tmp")
        with open(tmp, "wb") as fh:
            fh.write(mail.as_bytes())
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        return path
    context = ssl.create_default_context()  # the system's CAs (SSL_CERT_FILE), hostnames checked
    try:
        if settings.tls:
            client = smtplib.SMTP_SSL(settings.host, settings.port, timeout=TIMEOUT, context=context)
        else:
            client = smtplib.SMTP(settings.host, settings.port, timeout=TIMEOUT)
        with client:
            client.ehlo()
            if settings.starttls:
                client.starttls(context=context)
                client.ehlo()
            if settings.user:
                client.login(settings.user, settings.password or "")
            refused = client.send_message(mail)
            if refused:
                raise Refused(f"refused recipients: {', '.join(refused)}", permanent=True)
    except smtplib.SMTPResponseException as exc:
        raise Refused(f"SMTP {exc.smtp_code}: {_text(exc.smtp_error)}", permanent=500 <= exc.smtp_code < 600) from None
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        raise Refused(f"recipients refused ({', '.join(map(str, codes))})",
                      permanent=all(500 <= c < 600 for c in codes)) from None
    except (socket.timeout, TimeoutError):
        raise Refused("timeout") from None
    except (OSError, smtplib.SMTPException) as exc:
        raise Refused(f"{type(exc).__name__}: {exc}"[:300]) from None
    return None


def _text(value):
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
