// The contract of the SCTP stack (RFC 9260 endpoint, PR-SCTP RFC 3758, UDP encapsulation
// RFC 6951) for the host driver, the socket layer (tun/sctp-socket.ts) and migration.
// Types and re-exports only. Same model as the TCP stack (stack/api.ts):
//
//   const st = createSctpStack(defaultSctpStackConfig(['10.0.0.2']), secret, now);
//   const r = sctpStackStep(st, event, now);    // mutates st in place
//   r.out     SctpOut[]: SCTP packets with src/dst addresses and encapsulation to send
//   r.events  SctpAppEvent[]: accept-ready, connected, readable, writable, eof, abandoned, path,
//             restart, remote-error, error, closed
//   r.result  the result of a user call (listen, connect, send, recv, ...), null for packet/tick
//   then arm one timer at sctpNextDeadline(st) and feed { type: 'tick' } when it fires.
//
// Host-level integration (what the lead wires into stack/stack.ts and tun/driver.ts):
//   - IP protocol 132 addressed to one of the stack's addresses:
//       sctpStackStep(st, { type: 'packet', src, dst, sctp: ipPayload, encap: null }, now)
//   - UDP to port config.udpEncapPort (9899, RFC 6951), checksum verified by the host:
//       sctpStackStep(st, { type: 'packet', src, dst, sctp: udpPayload, encap: { srcPort, dstPort } }, now)
//   - each SctpOut: IP protocol 132 from o.src to o.dst carrying o.sctp; or, when o.encap is
//     set, UDP o.encap.srcPort -> o.encap.dstPort carrying o.sctp. `sctpOutToIp(o)` does both.
//   - or at the IP level: `sctpIpStep(st, { type: 'ip', data }, now)` takes an IP packet and
//     returns IP packets (sctpEventFromIp classifies one without stepping).
//   - an ICMP error whose quoted packet is SCTP (protocol 132, or UDP to/from port 9899 with
//     the UDP header stripped): { type: 'icmp', local, remote, quoted, kind, mtu } (PMTU, and
//     unreachable during the handshake), RFC 9260 Appendix C.
// The CRC32c is verified by the stack (parseSctp); the host does not need to look at it.
//
// Receive side is a pull model: messages wait in the association until `recv` takes them,
// and the advertised receive window (a_rwnd) is what is left of rcvBuf, so a slow reader
// throttles the peer. Send side: `send` takes a whole message or fails with EAGAIN while the
// send buffer is full; 'writable' follows when room returns.
//
// Every bit of state is plain data (SctpStackState, Assoc): `migrate/codec.ts` round-trips
// it; timers are absolute deadlines on the stack clock. To resume a snapshot on a host whose
// clock reads `d` ms more, call sctpShiftClock(state, d) (every deadline, send time and PR-SCTP
// lifetime moves together). The cookie key derives from the stack secret: a node that should
// accept cookies issued by another needs the same secret.

export type {
  AssocId, Ms, SctpAppEvent, SctpAssocInfo, SctpEncap, SctpErrorCode, SctpEvent, SctpListenerId, SctpMessage, SctpOut,
  SctpResultOf, SctpSendOptions, SctpStackConfig, SctpStepResult, SctpSendResult, SctpRecvResult, SctpConnectResult,
  SctpListenResult, SctpAcceptResult, SctpVoidResult, SctpFail,
} from './events.ts';
export type { Assoc, SctpAssocConfig, SctpPath, SctpStateName, SctpAssocStats } from './assoc.ts';
export type { SctpStackState, SctpListener } from './state.ts';
export { defaultSctpAssocConfig } from './assoc.ts';
export { createSctpStack, defaultSctpStackConfig, sctpAssocIds, sctpAssocInfo, sctpNextDeadline, sctpShiftClock, sctpStackStep } from './step.ts';
export { sctpEventFromIp, sctpIpStep, sctpOutToIp, type SctpIpEvent } from './ip.ts';
