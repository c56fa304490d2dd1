#!/usr/bin/python3
"""ferry's flood and forgery generator: crafted IPv4/TCP/SCTP packets at the highest rate one
core reaches, through a raw socket (AF_INET, SOCK_RAW, IPPROTO_RAW: the kernel routes each
packet by its destination and sends our IP header as is, spoofed source included).

Run it inside the network namespace whose routes lead into ferry's TUN. Python's per-packet
cost is the sendto() call: every packet is built (checksums, CRC32c) into a pool before the
clock starts, and the timed loop only cycles through the pool. Standard library only.

  flood.py --kind syn   --dst 10.9.0.2 --dport 80 --src random:198.18.0.0/15 --seconds 5
  flood.py --kind rst   --dst D --dport 7 --src 10.9.0.1 --sport 40000 --seq 1000:200000 --count 5000
  flood.py --kind init  --dst D --dport 7 --src random:198.18.0.0/15 --seconds 5 [--udp 9899]

Kinds: syn, ack, rst, synest (SYN on a 4-tuple), data (ACK + payload), init (SCTP INIT).
--tsval N adds a timestamp option (RFC 7323) to every non-RST TCP packet.
--seq / --ack lo:hi spread the guesses evenly over [lo, hi) (mod 2^32); without them they are random.
Prints one JSON line: {"sent", "errors", "seconds", "pps"}.
"""
import argparse, ipaddress, json, random, socket, struct, sys, time

def csum(b):
    if len(b) % 2:
        b += b'\0'
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return (~s) & 0xffff

def crc32c_table():
    t = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        t.append(c)
    return t

CRC_T = crc32c_table()

def crc32c(b):
    c = 0xffffffff
    for x in b:
        c = CRC_T[(c ^ x) & 0xff] ^ (c >> 8)
    return c ^ 0xffffffff

def ipv4(src, dst, proto, payload, ident):
    h = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(payload), ident & 0xffff, 0x4000, 64, proto, 0, src, dst)
    return h[:10] + struct.pack('!H', csum(h)) + h[12:] + payload

FLAGS = {'syn': 0x02, 'ack': 0x10, 'rst': 0x04, 'synest': 0x02, 'data': 0x18}

def tcp(src, dst, sport, dport, seq, ack, flags, payload=b'', window=65535, tsval=None):
    # RFC 7323 §3.2: on a connection that negotiated timestamps, a non-RST segment without one is
    # dropped before any other check; --tsval lets a forgery carry one (NOP, NOP, TS).
    opts = b'' if tsval is None else b'\x01\x01\x08\x0a' + struct.pack('!II', tsval & 0xffffffff, 0)
    h = struct.pack('!HHIIBBHHH', sport, dport, seq & 0xffffffff, ack & 0xffffffff, (5 + len(opts) // 4) << 4, flags, window, 0, 0) + opts
    seg = h + payload
    ph = struct.pack('!4s4sBBH', src, dst, 0, 6, len(seg))
    c = csum(ph + seg)
    return seg[:16] + struct.pack('!H', c) + seg[18:]

def sctp_init(sport, dport, tag, tsn):
    # RFC 9260 §3.3.2: INIT, verification tag 0 in the common header; 10 out / 2048 in streams.
    chunk = struct.pack('!BBHIIHHI', 1, 0, 20, tag, 65536, 10, 2048, tsn)
    pkt = struct.pack('!HHII', sport, dport, 0, 0) + chunk
    c = crc32c(pkt)
    return pkt[:8] + struct.pack('<I', c) + pkt[12:]

def udp(src, dst, sport, dport, payload):
    h = struct.pack('!HHHH', sport, dport, 8 + len(payload), 0)
    ph = struct.pack('!4s4sBBH', src, dst, 0, 17, 8 + len(payload))
    c = csum(ph + h + payload) or 0xffff
    return h[:6] + struct.pack('!H', c) + payload

def spread(spec, n, rnd):
    if spec is None:
        return [rnd.getrandbits(32) for _ in range(n)]
    lo, hi = (int(x, 0) for x in spec.split(':'))
    width = (hi - lo) % (1 << 32) or (1 << 32)
    return [(lo + (i * width) // n) % (1 << 32) for i in range(n)]

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--kind', required=True, choices=['syn', 'ack', 'rst', 'synest', 'data', 'init'])
    ap.add_argument('--dst', required=True)
    ap.add_argument('--dport', type=int, required=True)
    ap.add_argument('--src', default='random:198.18.0.0/15', help='an address, or random:CIDR')
    ap.add_argument('--sport', type=int, default=0, help='0: random per packet')
    ap.add_argument('--seq', default=None)
    ap.add_argument('--ack', default=None)
    ap.add_argument('--payload', type=int, default=0, help='data bytes per packet (kind data)')
    ap.add_argument('--tsval', type=lambda x: int(x, 0), default=None, help='add a timestamp option with this TSval (TCP, not RST)')
    ap.add_argument('--udp', type=int, default=0, help='SCTP over UDP to this port (RFC 6951)')
    ap.add_argument('--pool', type=int, default=4096, help='distinct packets built beforehand')
    ap.add_argument('--count', type=int, default=0, help='stop after this many packets (0: --seconds)')
    ap.add_argument('--seconds', type=float, default=0)
    ap.add_argument('--pps', type=float, default=0, help='cap the rate (0: as fast as possible)')
    ap.add_argument('--seed', type=int, default=1)
    a = ap.parse_args()
    rnd = random.Random(a.seed)
    pool_n = a.count if 0 < a.count <= 65536 else a.pool
    dst = socket.inet_aton(a.dst)
    if a.src.startswith('random:'):
        net = ipaddress.ip_network(a.src[7:])
        base, size = int(net.network_address), net.num_addresses
        srcs = [struct.pack('!I', base + rnd.randrange(1, size - 1)) for _ in range(pool_n)]
    else:
        srcs = [socket.inet_aton(a.src)] * pool_n
    sports = [a.sport or rnd.randrange(1024, 65535) for _ in range(pool_n)]
    seqs, acks = spread(a.seq, pool_n, rnd), spread(a.ack, pool_n, rnd)
    body = bytes(rnd.getrandbits(8) for _ in range(a.payload))
    pool = []
    for i in range(pool_n):
        if a.kind == 'init':
            l4 = sctp_init(sports[i], a.dport, rnd.getrandbits(32) or 1, rnd.getrandbits(32))
            pkt = ipv4(srcs[i], dst, 17, udp(srcs[i], dst, sports[i], a.udp, l4), i) if a.udp else ipv4(srcs[i], dst, 132, l4, i)
        else:
            f = FLAGS[a.kind]
            ack = acks[i] if f & 0x10 or a.kind == 'rst' and a.ack is not None else 0
            if a.kind == 'rst' and a.ack is not None:
                f |= 0x10
            ts = a.tsval if a.kind != 'rst' else None
            pkt = ipv4(srcs[i], dst, 6, tcp(srcs[i], dst, sports[i], a.dport, seqs[i], ack, f, body if a.kind == 'data' else b'', tsval=ts), i)
        pool.append(pkt)
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 22)
    addr = (a.dst, 0)
    sent = errors = 0
    n = len(pool)
    limit = a.count if a.count > 0 else (1 << 62)
    deadline = time.monotonic() + a.seconds if a.seconds > 0 else float('inf')
    gap = 1.0 / a.pps if a.pps > 0 else 0.0
    send = s.sendto
    t0 = time.monotonic()
    next_t = t0
    while sent + errors < limit:
        # Check the clock once per batch of 256: time.monotonic() costs as much as a send.
        for k in range(min(256, limit - sent - errors)):
            try:
                send(pool[(sent + errors) % n], addr)
                sent += 1
            except OSError:
                errors += 1  # ENOBUFS: the device queue is full; the kernel dropped it
            if gap:
                next_t += gap
                d = next_t - time.monotonic()
                if d > 0:
                    time.sleep(d)
        if time.monotonic() >= deadline:
            break
    dt = time.monotonic() - t0
    print(json.dumps({'sent': sent, 'errors': errors, 'seconds': round(dt, 3), 'pps': round(sent / dt) if dt > 0 else 0}))
    sys.stdout.flush()

if __name__ == '__main__':
    main()
