"""Says READY=1 over NOTIFY_SOCKET (sd_notify) once the file named in argv[1]
exists (the test decides when), then idles."""
import os
import socket
import sys
import time

trigger = sys.argv[1]
addr = os.environ.get("NOTIFY_SOCKET")
if not addr:
    sys.exit("no NOTIFY_SOCKET")
if addr.startswith("@"):
    addr = "\0" + addr[1:]
while not os.path.exists(trigger):
    time.sleep(0.05)
with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
    s.connect(addr)
    s.sendall(b"STATUS=warming up\nREADY=1\n")
print("sent READY=1", flush=True)
while True:
    time.sleep(3600)
