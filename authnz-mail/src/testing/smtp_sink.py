"""A real SMTP server for authnz tests, built on aiosmtpd.

Listens on 127.0.0.1 on an ephemeral port and prints `READY <port>` once it
accepts connections. Every accepted message is parsed with Python's own
`email` package (an independent MIME parser) and written as one JSON file
into OUTDIR: envelope, headers, decoded text and HTML parts, whether the
session was under TLS, and the login used. Options:

  --starttls CERT KEY   offer STARTTLS and require it before MAIL
  --implicit-tls CERT KEY  TLS from the first byte (SMTPS)
  --login USER:PASS     offer AUTH PLAIN/LOGIN and require this login
  --reject-suffix S     answer 550 to every recipient ending with S

Stops on SIGTERM/SIGINT (the test kills it).
"""

import argparse
import asyncio
import email
import email.policy
import json
import os
import ssl
import sys

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


class Handler:
    def __init__(self, outdir, reject_suffix, implicit_tls):
        self.outdir = outdir
        self.implicit_tls = implicit_tls
        self.reject_suffix = reject_suffix
        self.count = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.reject_suffix and address.endswith(self.reject_suffix):
            return "550 5.1.1 Recipient address rejected: no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        raw = envelope.original_content or envelope.content
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        text = msg.get_body(preferencelist=("plain",))
        html = msg.get_body(preferencelist=("html",))
        self.count += 1
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "from": msg.get("From"),
            "to": msg.get("To"),
            "sender": msg.get("Sender"),
            "subject": msg.get("Subject"),
            "message_id": msg.get("Message-ID"),
            "date": msg.get("Date"),
            "content_type": msg.get_content_type(),
            "text": text.get_content() if text is not None else None,
            "html": html.get_content() if html is not None else None,
            "tls": self.implicit_tls or session.ssl is not None,
            "login": session.auth_data.login.decode()
            if isinstance(getattr(session, "auth_data", None), LoginPassword)
            else None,
            "raw": raw.decode("utf-8", "replace"),
        }
        name = "%06d.json" % self.count
        tmp = os.path.join(self.outdir, "." + name)
        with open(tmp, "w") as f:
            json.dump(record, f)
        os.rename(tmp, os.path.join(self.outdir, name))
        return "250 Message accepted for delivery"


def tls_context(cert, key):
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    return ctx


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("outdir")
    p.add_argument("--starttls", nargs=2, metavar=("CERT", "KEY"))
    p.add_argument("--implicit-tls", nargs=2, metavar=("CERT", "KEY"))
    p.add_argument("--login")
    p.add_argument("--reject-suffix")
    args = p.parse_args()

    handler = Handler(args.outdir, args.reject_suffix, bool(args.implicit_tls))
    kwargs = {"hostname": "sink.test", "ident": "authnz-test-sink"}
    if args.starttls:
        kwargs["tls_context"] = tls_context(*args.starttls)
        kwargs["require_starttls"] = True
    if args.login:
        user, password = args.login.split(":", 1)

        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = (
                isinstance(auth_data, LoginPassword)
                and auth_data.login.decode() == user
                and auth_data.password.decode() == password
            )
            # handled=False: let aiosmtpd answer 535 on failure.
            return AuthResult(success=ok, handled=False, auth_data=auth_data)

        kwargs["authenticator"] = authenticator
        kwargs["auth_required"] = True
        # Over plain text (and implicit TLS, see below) a login must still
        # be possible.
        kwargs["auth_require_tls"] = bool(args.starttls)
        if args.implicit_tls:
            # aiosmtpd does not know the socket is already TLS.
            kwargs["auth_require_tls"] = False

    loop = asyncio.get_running_loop()
    server_ssl = tls_context(*args.implicit_tls) if args.implicit_tls else None
    server = await loop.create_server(
        lambda: SMTP(handler, **kwargs), host="127.0.0.1", port=0, ssl=server_ssl
    )
    port = server.sockets[0].getsockname()[1]
    sys.stdout.write("READY %d\n" % port)
    sys.stdout.flush()
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
