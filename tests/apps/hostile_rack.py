# Poses as a protocol: rack worker (fd 3, SOCK_SEQPACKET, framing in
# common/include/rack/channel.h) that misbehaves on purpose. Used by
# tests/integration/hostile_channel_test.cc.
#   hostile_rack.py fds      ConnReturn carrying pipes, directories, a UDP
#                            socket and a listening socket, as fast as it can
#   hostile_rack.py unknown  messages of types rackd does not know
#   hostile_rack.py metrics  MetricsRep pieces with "more" set, never a last one
#   hostile_rack.py deaf     MergedMetricsReq as fast as it can; never reads
#                            its end (no Pong either)
#   hostile_rack.py oversized  a 70 KB message (over the 64 KB limit) each turn
#   hostile_rack.py bad_once   one each of: a 70 KB message, a 3-byte one, one
#                            whose header claims more bytes than follow; then
#                            it behaves (answers Ping)
# Every mode sends Ready first; all but deaf answer Ping with Pong, so only
# what the mode is about can get it replaced. It ignores Drain: rackd's
# kill escalation ends it.
import array, os, select, socket, struct, sys, time

CONN_RETURN, METRICS_REP, MERGED_REQ, READY, PONG, PING = 104, 105, 106, 100, 102, 2
MORE = 1

ch = socket.socket(fileno=int(os.environ["RACK_CHANNEL_FD"]))
ch.setblocking(False)


def send(kind, payload=b"", flags=0, fd=None):
    head = struct.pack("=HHI", kind, flags, len(payload))
    anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [fd]))] if fd is not None else []
    try:
        ch.sendmsg([head + payload], anc)
        return True
    except BlockingIOError:
        return False


def answer_pings():
    while True:
        try:
            data = ch.recv(70000)
        except BlockingIOError:
            return
        if not data:
            sys.exit(0)
        kind, _, length = struct.unpack("=HHI", data[:8])
        if kind == PING:
            while not send(PONG, data[8:8 + length]):
                select.select([], [ch], [], 1)


def fds_round():
    r, w = os.pipe()
    d = os.open("/", os.O_RDONLY | os.O_DIRECTORY)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    lst = socket.socket()
    lst.bind(("127.0.0.1", 0))
    lst.listen()
    for fd in (r, w, d, udp.fileno(), lst.fileno()):
        send(CONN_RETURN, fd=fd)
    for fd in (r, w, d):
        os.close(fd)
    udp.close()
    lst.close()


mode = sys.argv[1]
while not send(READY):
    time.sleep(0.01)
piece = struct.pack("=Q", 1) + b"# x\n" * 16000
while True:
    if mode == "fds":
        fds_round()
    elif mode == "unknown":
        for kind in (999, 4242, 60000, 7):
            send(kind, b"?" * 100)
    elif mode == "metrics":
        send(METRICS_REP, piece, MORE)
    elif mode == "oversized":
        send(METRICS_REP, struct.pack("=Q", 1) + b"x" * 70000)
    elif mode == "bad_once":
        send(METRICS_REP, struct.pack("=Q", 1) + b"x" * 70000)
        for raw in (b"abc", struct.pack("=HHI", PONG, 0, 100) + b"short"):
            while True:
                try:
                    ch.send(raw)
                    break
                except BlockingIOError:
                    select.select([], [ch], [], 1)
        mode = "behave"
    elif mode == "deaf":
        if not send(MERGED_REQ, struct.pack("=Q", 7)):
            time.sleep(0.001)
        continue
    answer_pings()
    if mode == "behave":
        select.select([ch], [], [], 1)
    else:
        select.select([ch], [ch], [], 0.001)
