"""A real SMTP server on 127.0.0.1 for orc's alert tests (aiosmtpd).

Usage: server.py MAILDIR USER PASSWORD
Requires AUTH (PLAIN or LOGIN) with USER/PASSWORD before MAIL; writes each accepted
message to MAILDIR/N.eml; prints "PORT n" on stdout once it listens; runs until
killed. Recipients ending in "@rejected.example" are refused with 550.
"""

import itertools
import socket
import sys
import time
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

maildir, user, password = Path(sys.argv[1]), sys.argv[2].encode(), sys.argv[3].encode()
maildir.mkdir(parents=True, exist_ok=True)
counter = itertools.count(1)


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and (
        auth_data.login == user and auth_data.password == password
    )
    # handled=False: aiosmtpd then answers 535 itself.
    return AuthResult(success=ok, handled=False)


class Handler:
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.endswith("@rejected.example"):
            return "550 5.1.1 no such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        n = next(counter)
        tmp = maildir / f".{n}.tmp"
        tmp.write_bytes(
            b"X-Envelope-To: " + ",".join(envelope.rcpt_tos).encode() + b"\r\n" + envelope.content
        )
        tmp.rename(maildir / f"{n}.eml")
        return "250 Message accepted"


# aiosmtpd cannot listen on port 0 itself: take a free port from the kernel.
probe = socket.socket()
probe.bind(("127.0.0.1", 0))
port = probe.getsockname()[1]
probe.close()
controller = Controller(
    Handler(),
    hostname="127.0.0.1",
    port=port,
    authenticator=authenticator,
    auth_required=True,
    auth_require_tls=False,
)
controller.start()
print(f"PORT {port}", flush=True)
while True:
    time.sleep(3600)
