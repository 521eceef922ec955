"""Mail through a real server and a real SMTP server: queued while the mail server is down, kept through kill -9, all delivered after."""
import email
import socket
import time

from aiosmtpd.controller import Controller


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Inbox:
    def __init__(self):
        self.received = []

    async def handle_DATA(self, server, session, envelope):
        self.received.append(email.message_from_bytes(envelope.content))
        return "250 OK"


def test_invites_made_while_the_mail_server_is_down_arrive_after_kill_9_and_a_restart(make_server):
    port = free_port()
    server = make_server(workers=2, SHOP_SMTP_URL=f"smtp://127.0.0.1:{port}", SHOP_NAME="Ye Olde Shoppe")
    token = server.login()["access_token"]
    codes = {}
    for n in range(5):
        resp = server.request("POST", "/api/invites", token,
                              json={"role": "clerk", "email": f"new{n}@example.com"})
        assert resp.status_code == 201, resp.text
        codes[f"new{n}@example.com"] = resp.json()["code"]
    # the background process tries, finds no mail server, and schedules another attempt
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        queue = server.request("GET", "/api/outbox", token).json()["items"]
        if all(m["attempts"] >= 1 for m in queue):
            break
        time.sleep(0.1)
    assert all(m["status"] == "queued" and m["attempts"] >= 1 and m["last_error"] for m in queue), queue
    server.kill()  # kill -9 of the master, the workers and the background process

    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        server.start()
        deadline = time.monotonic() + 60
        while len({m["To"] for m in inbox.received}) < 5 and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        controller.stop()
    by_address = {m["To"]: m for m in inbox.received}
    assert set(by_address) == set(codes)
    for address, code in codes.items():
        message = by_address[address]
        assert message["Subject"] == "Your invitation to Ye Olde Shoppe"
        assert code in message.get_payload(decode=True).decode("utf-8").splitlines()
    token = server.login()["access_token"]
    sent = server.request("GET", "/api/outbox?status=sent", token).json()
    assert sent["total"] == 5
