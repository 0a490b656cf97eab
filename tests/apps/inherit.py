"""Socket activation in Python: accept on the inherited fd 3, answer HTTP."""
import os
import signal
import socket
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

if os.environ.get("LISTEN_FDS") != "1" or os.environ.get("LISTEN_PID") != str(os.getpid()):
    sys.exit("not socket-activated")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        body = f"python {os.getpid()}\n".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class Inherited(HTTPServer):
    def server_bind(self):
        self.socket = socket.fromfd(3, socket.AF_INET, socket.SOCK_STREAM)
        self.server_address = self.socket.getsockname()

    def server_activate(self):
        pass  # rackd already listens


server = Inherited(("127.0.0.1", 0), Handler, bind_and_activate=True)
stopping = False


def on_term(*_):
    # Graceful: finish the request being handled, take no new ones. The
    # handler may run in the middle of a request, so it only sets a flag.
    global stopping
    stopping = True


signal.signal(signal.SIGTERM, on_term)
print("accepting on fd 3", flush=True)
server.timeout = 0.1
while not stopping:
    server.handle_request()
server.server_close()
