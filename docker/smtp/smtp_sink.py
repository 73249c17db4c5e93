"""An SMTP sink: keeps the last messages in memory and lists them over HTTP.

SMTP on $MAILDEV_SMTP_PORT (default 1025), HTTP on $MAILDEV_WEB_PORT
(default 1080): GET /healthz answers 200; GET /email answers a JSON list of
{"from", "to", "subject", "text"}, oldest first (at most 500 kept).
"""

import email
import email.policy
import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller

KEEP = 500
messages = []
lock = threading.Lock()


class Sink:
    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        body = msg.get_body(preferencelist=("plain", "html"))
        item = {
            "from": envelope.mail_from,
            "to": list(envelope.rcpt_tos),
            "subject": str(msg.get("Subject", "")),
            "text": body.get_content() if body is not None else "",
        }
        with lock:
            messages.append(item)
            del messages[:-KEEP]
        return "250 OK"


class Web(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/healthz":
            data = b"true"
        elif self.path == "/email":
            with lock:
                data = json.dumps(messages).encode()
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def main():
    smtp_port = int(os.environ.get("MAILDEV_SMTP_PORT", "1025"))
    web_port = int(os.environ.get("MAILDEV_WEB_PORT", "1080"))
    controller = Controller(Sink(), hostname="0.0.0.0", port=smtp_port)
    controller.start()
    web = ThreadingHTTPServer(("0.0.0.0", web_port), Web)
    print(f"smtp sink: SMTP on {smtp_port}, HTTP on {web_port}")
    try:
        web.serve_forever()
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
