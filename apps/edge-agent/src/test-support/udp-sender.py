# Sends UDP flows to DST:DPORT: SPEC is "sport:count,..."; packets of the flows are interleaved, each PAYLOAD bytes.
# Paced in bursts so the veth backlog never overflows (a drop there would happen before the hooks count).
import socket, sys, time

dst, dport, spec, payload = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
flows = []
for item in spec.split(','):
    sport, count = item.split(':')
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(('0.0.0.0', int(sport)))
    flows.append([s, int(count)])
data = b'x' * payload
sent = 0
while flows:
    for f in list(flows):
        f[0].sendto(data, (dst, dport))
        f[1] -= 1
        sent += 1
        if f[1] == 0:
            flows.remove(f)
        if sent % 256 == 0:
            time.sleep(0.0005)
