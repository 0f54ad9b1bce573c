# UDP sender run inside a test namespace, in one of two modes:
#   flows DST DPORT SPEC PAYLOAD   exact counts: SPEC is "sport:count,..."; the flows' packets are interleaved, each
#                                  PAYLOAD bytes, paced in bursts so the veth backlog never overflows (a drop there
#                                  would happen before the hooks count).
#   steady DST RATE SECONDS FLOWS  steady load: RATE packets/s for SECONDS over FLOWS source ports from 20000 (Zipf-ish:
#                                  port i gets weight 1/(i+1)) to ports 9000-9006, 200 bytes each, in 1 ms batches, so
#                                  the sketches, HLLs and candidate table all have work; prints the packets sent.
import random, socket, sys, time


def bound(sport):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(('0.0.0.0', sport))
    return s


def flows(dst, dport, spec, payload):
    todo = []
    for item in spec.split(','):
        sport, count = item.split(':')
        todo.append([bound(int(sport)), int(count)])
    data = b'x' * payload
    sent = 0
    while todo:
        for f in list(todo):
            f[0].sendto(data, (dst, dport))
            f[1] -= 1
            sent += 1
            if f[1] == 0:
                todo.remove(f)
            if sent % 256 == 0:
                time.sleep(0.0005)


def steady(dst, rate, seconds, nflows):
    socks = [bound(20000 + i) for i in range(nflows)]
    weights = [1.0 / (i + 1) for i in range(nflows)]
    order = random.Random(1).choices(range(nflows), weights=weights, k=65536)
    data = b'x' * 200
    per_ms = max(1, rate // 1000)
    end = time.monotonic() + seconds
    n = 0
    tick = time.monotonic()
    while time.monotonic() < end:
        for _ in range(per_ms):
            socks[order[n & 65535]].sendto(data, (dst, 9000 + (n % 7)))
            n += 1
        tick += 0.001
        d = tick - time.monotonic()
        if d > 0:
            time.sleep(d)
    print(n)


mode, args = sys.argv[1], sys.argv[2:]
if mode == 'flows':
    flows(args[0], int(args[1]), args[2], int(args[3]))
elif mode == 'steady':
    steady(args[0], int(args[1]), float(args[2]), int(args[3]))
else:
    sys.exit(f'unknown mode {mode}: flows DST DPORT SPEC PAYLOAD | steady DST RATE SECONDS FLOWS')
