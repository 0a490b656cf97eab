# Poses as a node cluster worker (protocol: node) that writes raw lines to
# its channel (NODE_CHANNEL_FD). Used by tests/integration/hostile_test.cc.
#   fake_node.py deep N      a line nested N arrays deep, then "listening"
#   fake_node.py long BYTES  a line of BYTES bytes, then "listening"
#   fake_node.py silent      "listening", then never reads its channel
import os, sys, time

fd = int(os.environ["NODE_CHANNEL_FD"])
os.set_blocking(fd, True)

def send(data):
    view = memoryview(data.encode())
    while view:
        view = view[os.write(fd, view):]

listening = '{"cmd":"NODE_CLUSTER","act":"listening","seq":1}\n'
mode = sys.argv[1]
if mode == "deep":
    n = int(sys.argv[2])
    send("[" * n + "]" * n + "\n")
    send('{"nested":' + "{\"a\":" * n + "1" + "}" * n + "}\n")
    send(listening)
elif mode == "long":
    chunk = "x" * (1 << 20)
    for _ in range(int(sys.argv[2]) >> 20):
        send(chunk)
    send("\n" + listening)
elif mode == "silent":
    send(listening)
while True:
    time.sleep(1)
