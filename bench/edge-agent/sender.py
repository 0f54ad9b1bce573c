# Steady UDP load for the agent benchmark: RATE packets/s for SECONDS over FLOWS source ports (Zipf-ish: port i
# gets weight 1/(i+1)), so the sketches, HLLs and candidate table all have work. Sleeps between 1 ms batches.
import random, socket, sys, time

dst, rate, seconds, flows = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
socks = []
for i in range(flows):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(('0.0.0.0', 20000 + i))
    socks.append(s)
weights = [1.0 / (i + 1) for i in range(flows)]
rng = random.Random(1)
order = rng.choices(range(flows), weights=weights, k=65536)
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
