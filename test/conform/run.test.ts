// Runner semantics on small hand-written scripts whose outcome is known: what must pass, and the
// exact first mismatch of what must fail. The scripts leave out `win` where the value is a
// stack policy rather than what the test is about.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runScriptText, type Outcome } from '../../bin/conform/run.ts';

const run = (src: string, profile: 'freebsd' | 'rfc' = 'freebsd'): Outcome => runScriptText(src, { profile });
const pass = (src: string, profile: 'freebsd' | 'rfc' = 'freebsd') => {
  const o = run(src, profile);
  assert.is(o.status, 'pass', `${o.reason ?? ''}${o.failure ? ` (line ${o.failure.line}: ${o.failure.expected})` : ''}`);
  return o;
};
const fails = (src: string, line: number, actual: RegExp) => {
  const o = run(src);
  assert.is(o.status, 'fail', `expected a failure, got ${o.status} ${o.reason ?? ''}`);
  assert.is(o.failure?.line, line, `failure line (${o.failure?.actual})`);
  assert.match(o.failure?.actual ?? '', actual);
  return o;
};

const LISTEN = `--tolerance_usecs=10000
0.00 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0.00 setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0
+0.00 bind(3, ..., ...) = 0
+0.00 listen(3, 1) = 0
`; // events on lines 2-5

const HANDSHAKE = `${LISTEN}+0.00 < S 0:0(0) win 65535 <mss 1460,sackOK,eol,eol>
+0.00 > S. 0:0(0) ack 1 win 65535 <mss 1460,sackOK,eol,eol>
+0.01 < . 1:1(0) ack 1 win 65535
+0.00 accept(3, ..., ...) = 4
`; // lines 6-9

test('passive open and close pass', () => {
  pass(`${HANDSHAKE}+0.00 close(4) = 0
+0.00 > F. 1:1(0) ack 1
+0.01 < F. 1:1(0) ack 2 win 65535
+0.00 > . 2:2(0) ack 2
`);
});

test('a wrong ack number fails on that line, with what ferry sent', () => {
  const o = fails(`${LISTEN}+0.00 < S 0:0(0) win 65535 <mss 1460,sackOK,eol,eol>
+0.00 > S. 0:0(0) ack 2 win 65535 <mss 1460,sackOK,eol,eol>
`, 7, /^S\. 0:0\(0\) ack 1 win 65535 <mss 1460,sackOK,eol,eol> \[ack 1 \(expected 2\)\]$/);
  assert.is(o.failure?.expected, '+0.00 > S. 0:0(0) ack 2 win 65535 <mss 1460,sackOK,eol,eol>');
  assert.is(o.failure?.time, 0);
});

test('a wrong option list fails; <...> accepts any', () => {
  fails(`${LISTEN}+0.00 < S 0:0(0) win 65535 <mss 1460,sackOK,eol,eol>
+0.00 > S. 0:0(0) ack 1 win 65535 <mss 1460,nop,nop,sackOK>
`, 7, /option 2: sackOK instead of nop/);
  pass(`${LISTEN}+0.00 < S 0:0(0) win 65535 <mss 1460,sackOK,eol,eol>
+0.00 > S. 0:0(0) ack 1 win 65535 <...>
`);
});

test('timing: a packet outside the tolerance fails with both times', () => {
  fails(`${LISTEN}+0.00 < S 0:0(0) win 65535 <mss 1460,sackOK,eol,eol>
+0.50 > S. 0:0(0) ack 1 <...>
`, 7, /sent at 0 s, expected at 0\.5 s \(tolerance 0\.01 s\)/);
});

test('a missing packet fails after waiting in virtual time', () => {
  fails(`${HANDSHAKE}+0.10 > F. 1:1(0) ack 1
`, 10, /^no packet sent \(waited until 0\.12 s\)$/);
});

test('a packet nobody expected fails at the next event', () => {
  fails(`${LISTEN}+0.00 < S 0:0(0) win 65535 <mss 1460,sackOK,eol,eol>
+0.10 getsockopt(3, SOL_SOCKET, SO_ERROR, [0], [4]) = 0
`, 7, /^unexpected packet: S\. .* sent at 0 s, before this event at 0\.1 s$/);
});

test('a packet sent at the last event is not checked (as packetdrill)', () => {
  const o = pass(`${HANDSHAKE}+0.00 close(4) = 0
`);
  assert.ok(o.notes.some((n) => /after the last event ferry sent: F\./.test(n)), o.notes.join('; '));
});

test('SYN retransmissions: timing, TSval clock, and `*` lines', () => {
  const head = `--tolerance_usecs=50000
0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 fcntl(3, F_GETFL) = 0x02 (flags O_RDWR)
+0 fcntl(3, F_SETFL, O_RDWR | O_NONBLOCK) = 0
+0 connect(3, ..., ...) = -1 EINPROGRESS (Operation now in progress)
+0 > S 0:0(0) win 65535 <mss 1460,nop,wscale 6,sackOK,TS val 100 ecr 0>
`;
  pass(`${head}+1.0 > S 0:0(0) win 65535 <mss 1460,nop,wscale 6,sackOK,TS val 1100 ecr 0>
* > S 0:0(0) win 65535 <...>
+0 close(3) = 0
`);
  fails(`${head}+1.0 > S 0:0(0) win 65535 <mss 1460,nop,wscale 6,sackOK,TS val 1300 ecr 0>
`, 7, /TS val 1100 instead of 1300 \(tolerance 50 ms\)/);
});

test('RST in SYN-SENT: SO_ERROR reports ECONNREFUSED once', () => {
  pass(`--tolerance_usecs=10000
0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 fcntl(3, F_SETFL, O_RDWR | O_NONBLOCK) = 0
+0 connect(3, ..., ...) = -1 EINPROGRESS (Operation now in progress)
+0 > S 0:0(0) <...>
+0.1 < R. 0:0(0) ack 1 win 0
+0 getsockopt(3, SOL_SOCKET, SO_ERROR, [ECONNREFUSED], [4]) = 0
+0 getsockopt(3, SOL_SOCKET, SO_ERROR, [0], [4]) = 0
+0 close(3) = 0
`);
});

test('ICMP port unreachable quoting our SYN is a hard error in SYN-SENT (RFC 1122 §4.2.3.9)', () => {
  for (const v of ['ipv4', 'ipv6']) {
    pass(`--ip_version=${v}
--tolerance_usecs=10000
0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 fcntl(3, F_SETFL, O_RDWR | O_NONBLOCK) = 0
+0 connect(3, ..., ...) = -1 EINPROGRESS (Operation now in progress)
+0 > S 0:0(0) <...>
+0.1 < icmp unreachable port_unreachable [0:0(0)]
+0 getsockopt(3, SOL_SOCKET, SO_ERROR, [ECONNREFUSED], [4]) = 0
+0 close(3) = 0
`);
  }
});

test('blocking calls: start...end returns at end; without ... a blocking call fails', () => {
  pass(`${LISTEN}+0 < S 0:0(0) win 65535 <mss 1460,sackOK,eol,eol>
+0 > S. 0:0(0) ack 1 <...>
+0...0.2 accept(3, ..., ...) = 4
+0.2 < . 1:1(0) ack 1 win 65535
`);
  fails(`${LISTEN}+0 < S 0:0(0) win 65535 <mss 1460,sackOK,eol,eol>
+0 > S. 0:0(0) ack 1 <...>
+0...0.5 accept(3, ..., ...) = 4
+0.2 < . 1:1(0) ack 1 win 65535
`, 8, /returned at 0\.2 s, expected at 0\.5 s/);
  fails(`${LISTEN}+0 accept(3, ..., ...) = 4
`, 6, /would block/);
});

test('nonblocking recv: EWOULDBLOCK, MSG_PEEK does not consume, data, then EOF', () => {
  pass(`${HANDSHAKE}+0 fcntl(4, F_SETFL, O_RDWR | O_NONBLOCK) = 0
+0 recv(4, ..., 100, 0) = -1 EAGAIN (Resource temporarily unavailable)
+0 < P. 1:11(10) ack 1 win 65535
* > . 1:1(0) ack 11
+0 recv(4, ..., 100, MSG_PEEK) = 10
+0 recv(4, ..., 4, 0) = 4
+0 recv(4, ..., 100, 0) = 6
+0 < F. 11:11(0) ack 1 win 65535
+0 > . 1:1(0) ack 12
+0 recv(4, ..., 100, 0) = 0
`);
});

test('send: data goes out with the right sequence numbers', () => {
  pass(`${HANDSHAKE}+0 send(4, ..., 100, 0) = 100
+0 > P. 1:101(100) ack 1
+0.01 < . 1:1(0) ack 101 win 65535
`);
});

test('writev sends the sum of its iovecs', () => {
  pass(`${HANDSHAKE}+0 writev(4, [{..., 30}, {..., 70}], 2) = 100
+0 > P. 1:101(100) ack 1
`);
});

test('tcpi_state assertions and sockstat', () => {
  pass(`${HANDSHAKE}+0 %{ assert tcpi_state == TCPI_ESTABLISHED }%
+0 \`sockstat -4 -P tcp -s | grep packetdril | grep -c ESTABLISHED | grep 1\`
+0 \`sockstat -4 -P tcp -p 8080 -s | grep -c LISTEN | grep 1\`
`);
  fails(`${HANDSHAKE}+0 %{ assert tcpi_state == TCPI_CLOSE_WAIT }%
`, 10, /tcpi_state is TCPI_ESTABLISHED/);
  fails(`${HANDSHAKE}+0 \`sockstat -4 -P tcp -s | grep packetdril | grep -c TIME_WAIT | grep 1\`
`, 10, /command failed/);
});

test('not runnable: unsupported options, sysctls and commands, with the reason', () => {
  const nr = (src: string, why: RegExp) => {
    const o = run(src);
    assert.is(o.status, 'not-runnable');
    assert.match(o.reason ?? '', why);
  };
  nr('0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 setsockopt(3, IPPROTO_TCP, TCP_FASTOPEN, [1], 4) = 0\n', /^line 2: setsockopt IPPROTO_TCP TCP_FASTOPEN/);
  nr('0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 setsockopt(3, IPPROTO_TCP, TCP_MD5SIG, [1], 4) = 0\n', /^line 2: TCP_MD5SIG without --tcp_md5_secret/);
  nr('0 `sysctl -w net.inet.tcp.ecn.enable=3`\n', /accurate ECN/);
  nr('0 `sysctl -w net.inet.tcp.no_such_knob=1`\n', /no mapping/);
  nr('0 `ls /`\n', /shell command `ls \/` is not supported/);
  nr('0 close(3) = 0\n+0 < S 0:0(0) win 1 <bogus>\n', /parse error at line 2/);
  nr('--udp_encapsulation=sctp\n0 close(3) = 0\n', /only tcp is supported/);
  nr('`kldload tcpmd5; setkey -c`\n0 close(3) = 0\n', /init command/);
});

test('sysctls change what the stack sends (rfc1323=0: no wscale/TS on the SYN)', () => {
  pass(`0 \`sysctl -w net.inet.tcp.rfc1323=0\`
+0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 fcntl(3, F_SETFL, O_RDWR | O_NONBLOCK) = 0
+0 connect(3, ..., ...) = -1 EINPROGRESS (Operation now in progress)
+0 > S 0:0(0) win 65535 <mss 1460,sackOK,eol,eol>
+0 close(3) = 0
`);
});

test('the rfc profile keeps ferry defaults (a Linux-layout SYN)', () => {
  const o = run(`0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 fcntl(3, F_SETFL, O_RDWR | O_NONBLOCK) = 0
+0 connect(3, ..., ...) = -1 EINPROGRESS (Operation now in progress)
+0 > S 0:0(0) win 65535 <mss 1460,nop,wscale 6,sackOK,TS val 100 ecr 0>
`);
  assert.is(o.status, 'pass', o.reason ?? '');
  const r = runScriptText(`0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 fcntl(3, F_SETFL, O_RDWR | O_NONBLOCK) = 0
+0 connect(3, ..., ...) = -1 EINPROGRESS (Operation now in progress)
+0 > S 0:0(0) win 65535 <mss 1460,nop,wscale 6,sackOK,TS val 100 ecr 0>
`, { profile: 'rfc' });
  assert.is(r.status, 'fail');
  assert.is(r.failure?.line, 4);
});

test('consecutive inbound packets chain on script times, not on when the previous one ran', () => {
  // Line 12 is scheduled at 0.05 but runs late (after the delayed ACK of line 11 was matched);
  // line 13 (+0.02 after an inbound line) is then due at 0.07, not 0.02 after "now".
  const o = runScriptText(`--tolerance_usecs=150000
0.00 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0.00 setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0
+0.00 bind(3, ..., ...) = 0
+0.00 listen(3, 1) = 0
+0 < S 0:0(0) win 65535 <mss 1460,sackOK,eol,eol>
+0 > S. 0:0(0) ack 1 <...>
+0 < . 1:1(0) ack 1 win 65535
+0 accept(3, ..., ...) = 4
+0 < P. 1:11(10) ack 1 win 65535
+0 > . 1:1(0) ack 11
0.05 < P. 11:21(10) ack 1 win 65535
+0.02 < P. 21:31(10) ack 1 win 65535
`, { profile: 'freebsd', trace: true });
  assert.is(o.status, 'pass', o.reason ?? '');
  const at = (line: number) => o.trace!.find((l) => l.includes(` line ${line} (at `))!;
  const ran = (line: number) => Number(at(line).split(' ')[0]);
  assert.ok(ran(12) > 0.05, `line 12 ran late: ${at(12)}`);
  assert.match(at(13), / line 13 \(at 0\.07\)/);
});

test("IP_TTL and IP_TOS: a bound socket's RST, the SYN|ACK and data carry them; a later setsockopt changes them", () => {
  pass(`--tolerance_usecs=10000
0.00 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0.00 setsockopt(3, IPPROTO_IP, IP_TTL, [4], 4) = 0
+0.00 setsockopt(3, IPPROTO_IP, IP_TOS, [IPTOS_DSCP_CS1], 4) = 0
+0.00 bind(3, ..., ...) = 0
+0.00 < S 0:0(0) win 32767 <mss 1460,sackOK,eol,eol>
+0.00 > (ttl 4, tos 0x20) R. 0:0(0) ack 1 win 0
+0.00 listen(3, 1) = 0
+0.00 < S 0:0(0) win 32767 <mss 1460,sackOK,eol,eol>
+0.00 > (ttl 4, tos 0x20) S. 0:0(0) ack 1 win 65535 <mss 1460,sackOK,eol,eol>
+0.01 < . 1:1(0) ack 1 win 32767
+0.00 accept(3, ..., ...) = 4
+0.00 getsockopt(4, IPPROTO_IP, IP_TTL, [4], [4]) = 0
+0.00 setsockopt(4, IPPROTO_IP, IP_TTL, [9], 4) = 0
+0.00 write(4, ..., 10) = 10
+0.00 > (ttl 9, tos 0x20) P. 1:11(10) ack 1
`);
  // Without the bound socket's options the closed-port RST uses the stack's TTL.
  fails(`0.00 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0.00 setsockopt(3, IPPROTO_IP, IP_TTL, [4], 4) = 0
+0.00 < S 0:0(0) win 32767 <mss 1460,sackOK,eol,eol>
+0.00 > (ttl 4) R. 0:0(0) ack 1 win 0
`, 4, /ttl 64 \(expected 4\)/);
});

test('ECN: ecn.enable=1 sends ECN-setup SYNs (maxretries of them retransmitted); an ECN-setup SYN|ACK turns it on', () => {
  pass(`--tolerance_usecs=150000
0 \`sysctl -w net.inet.tcp.ecn.enable=1\`
+0 \`sysctl -w net.inet.tcp.ecn.maxretries=0\`
+0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 fcntl(3, F_SETFL, O_RDWR | O_NONBLOCK) = 0
+0 connect(3, ..., ...) = -1 EINPROGRESS (Operation now in progress)
+0 > SEW 0:0(0) win 65535 <mss 1460,nop,wscale 6,sackOK,TS val 100 ecr 0>
+1 > S 0:0(0) win 65535 <mss 1460,nop,wscale 6,sackOK,TS val 1100 ecr 0>
+0.1 < SE. 0:0(0) ack 1 win 65535 <mss 1460,sackOK,eol,eol>
+0 > . 1:1(0) ack 1
`);
  pass(`0 \`sysctl -w net.inet.tcp.ecn.enable=1\`
+0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 fcntl(3, F_SETFL, O_RDWR | O_NONBLOCK) = 0
+0 connect(3, ..., ...) = -1 EINPROGRESS (Operation now in progress)
+0 > SEW 0:0(0) win 65535 <mss 1460,nop,wscale 6,sackOK,TS val 100 ecr 0>
+0.1 < SE. 0:0(0) ack 1 win 65535 <mss 1460,sackOK,eol,eol>
+0 > . 1:1(0) ack 1
+0 %{ assert tcpi_options == TCPI_OPT_SACK | TCPI_OPT_ECN }%
+0 write(3, ..., 10) = 10
+0 > [ect0] P. 1:11(10) ack 1
+0.01 < [ce] P. 1:11(10) ack 11 win 65535
+0.1 > [noecn] E. 11:11(0) ack 11
`);
});

test('TCP_KEEPINIT: the connection attempt fails with ETIMEDOUT at the deadline; getsockopt reports it', () => {
  pass(`--tolerance_usecs=150000
0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 setsockopt(3, IPPROTO_TCP, TCP_KEEPINIT, [3], 4) = 0
+0 getsockopt(3, IPPROTO_TCP, TCP_KEEPINIT, [3], [4]) = 0
0...3 connect(3, ..., ...) = -1 ETIMEDOUT (Operation timed out)
+0 > S 0:0(0) win 65535 <...>
+1 > S 0:0(0) win 65535 <...>
`);
});

test('TCP_NOOPT: a SYN without options; a peer offering everything gets nothing and MSS 536 is used', () => {
  pass(`0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 fcntl(3, F_SETFL, O_RDWR | O_NONBLOCK) = 0
+0 setsockopt(3, IPPROTO_TCP, TCP_NOOPT, [1], 4) = 0
+0 connect(3, ..., ...) = -1 EINPROGRESS (Operation now in progress)
+0 > S 0:0(0) win 65535
+0.05 < S. 0:0(0) ack 1 win 65535 <nop,wscale 7,sackOK,TS val 100 ecr 0>
+0 > . 1:1(0) ack 1 win 65535
+0 %{ assert tcpi_options == 0 }%
+0 write(3, ..., 600) = 600
+0 > . 1:537(536) ack 1
`);
});

// TCP over UDP (--udp_encapsulation=tcp) and TCP-MD5 (--tcp_md5_secret), as the suite's
// socket-api/setsockopt scripts use them.
const ACTIVE_UDP_MD5 = `--udp_encapsulation=tcp
--tolerance_usecs=10000
--tcp_md5_secret=secret
\`kldstat -q -m tcpmd5 || kldload tcpmd5; echo 'add 192.168.0.1 192.0.2.1 tcp 0x1000 -A tcp-md5 "secret" ;
   add 192.0.2.1 192.168.0.1 tcp 0x1001 -A tcp-md5 "secret" ;' | setkey -c\`
0 \`sysctl -w net.inet.tcp.udp_tunneling_port=9811\`
+0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 fcntl(3, F_SETFL, O_RDWR | O_NONBLOCK) = 0
+0 setsockopt(3, IPPROTO_TCP, TCP_MD5SIG, [1], 4) = 0
+0 connect(3, ..., ...) = -1 EINPROGRESS (Operation now in progress)
+0 > S 0:0(0) win 65535 <mss 1460,nop,wscale 6,sackOK,TS val 100 ecr 0,nop,nop,md5 valid>
+0 < S. 0:0(0) ack 1 win 32767 <mss 1460,sackOK,md5 valid>
+0 > . 1:1(0) ack 1 win 65535 <nop,nop,md5 valid>
`; // events on lines 7-13 (the init command takes lines 4-5)

test('TCP over UDP with TCP-MD5: signed segments inside UDP pass; a port change draws a signed RST that way', () => {
  pass(`${ACTIVE_UDP_MD5}+0.1 < F. 1:1(0) ack 1 win 32767 <nop,nop,md5 valid>/udp(1 > 9811)
+0 > R 1:1(0) win 0 <nop,nop,md5 valid>/udp(9811 > 1)
+0.1 send(3, ..., 100, 0) = 100
+0 > P. 1:101(100) ack 1 win 65535 <nop,nop,md5 valid>
`);
});

test('TCP-MD5: an unsigned inbound segment is dropped; the signed one after it is out of order', () => {
  pass(`${ACTIVE_UDP_MD5}+0.1 < P. 1:11(10) ack 1 win 32767
+0 < P. 11:21(10) ack 1 win 32767 <nop,nop,md5 valid>
+0 > . 1:1(0) ack 1 win 65535 <nop,nop,md5 valid,nop,nop,sack 11:21>
`);
});

test('TCP over UDP: the runner checks the UDP ports of what ferry sends', () => {
  fails(`${ACTIVE_UDP_MD5}+0.1 < F. 1:1(0) ack 1 win 32767 <nop,nop,md5 valid>/udp(1 > 9811)
+0 > R 1:1(0) win 0 <nop,nop,md5 valid>/udp(9811 > 2)
`, 15, /UDP ports 9811 > 1 \(expected 9811 > 2\)/);
});

test('TCP-MD5: a segment expected signed but sent without the option fails', () => {
  fails(`--tolerance_usecs=10000
--tcp_md5_secret=secret
0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 fcntl(3, F_SETFL, O_RDWR | O_NONBLOCK) = 0
+0 connect(3, ..., ...) = -1 EINPROGRESS (Operation now in progress)
+0 > S 0:0(0) win 65535 <mss 1460,nop,wscale 6,sackOK,TS val 100 ecr 0,nop,nop,md5 valid>
`, 6, /\[options <mss 1460,nop,wscale 6,sackOK,TS val \d+ ecr 0> \(expected 8 options\)\]/);
});

test.run();
