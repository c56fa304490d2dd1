// The packetdrill script language as plain data: what parse.ts produces and run.ts executes.
// Written from packetdrill's documentation (the Syntax reference and the USENIX ATC '13 paper):
// a script is header options, an optional init command, and events; every event has a time and
// one action (a packet, a system call, a shell command or a code snippet).

/** Times are integers in microseconds, as packetdrill keeps them. */
export type Usecs = number;

/** When an event happens. */
export type TimeSpec =
  /** `0.100`: seconds since the start of the script. */
  | { kind: 'abs'; t: Usecs }
  /** `+0.100`: after the previous event (inbound packets chain on the previous inbound packet's script time). */
  | { kind: 'rel'; t: Usecs }
  /** `*`: any time (outbound packets only make sense here). */
  | { kind: 'any' }
  /** `0.1~0.2`: within an absolute range. */
  | { kind: 'abs-range'; t: Usecs; end: Usecs }
  /** `+0.1~+0.2`: within a range relative to the previous event. */
  | { kind: 'rel-range'; t: Usecs; end: Usecs };

/** One TCP option as written between `<` and `>`. */
export type OptSpec =
  | { kind: 'nop' }
  | { kind: 'eol' }
  | { kind: 'mss'; mss: number }
  | { kind: 'wscale'; shift: number }
  | { kind: 'sackOK' }
  | { kind: 'sack'; blocks: [number, number][] }
  | { kind: 'ts'; val: number; ecr: number }
  /** TCP-MD5 (RFC 2385) as `md5 valid` / `md5 invalid`, signed and checked with --tcp_md5_secret. */
  | { kind: 'md5'; what: string }
  /** TCP Fast Open (`FO`, `FO cookie`). */
  | { kind: 'fo'; cookie: string | null }
  /** Any other kind given by number, with raw data bytes. */
  | { kind: 'raw'; type: number; data: number[] };

/** IP-level details a packet line can carry: `[ect0]` style ECN and `(ttl 4)` style fields. */
export interface IpInfo {
  ecn: 'noecn' | 'ect0' | 'ect1' | 'ect01' | 'ce' | null;
  ttl: number | null;
  tos: number | null;
  /** IPv6 hop limit. */
  hlim: number | null;
  /** IPv6 traffic class. */
  tclass: number | null;
  /** IPv6 flow label. */
  flowlabel: number | null;
}

/** A `<` or `>` TCP segment line. */
export interface TcpSpec {
  /** Flag letters as written (S F R P . U E W), '.' meaning ACK. */
  flags: string;
  /** start:end(len); start null for `...(len)` (sequence number not checked). */
  seq: number | null;
  end: number | null;
  len: number;
  /** `!` after the sequence number: the sequence number is not checked. */
  seqBang: boolean;
  ack: number | null;
  win: number | null;
  /** null: no option list (the segment has none); 'any': `<...>`. */
  options: OptSpec[] | 'any' | null;
  /** `/udp(sport > dport)`: UDP encapsulation (RFC 8899-style tunnelling, FreeBSD udp_tunneling_port). */
  udp: { sport: number; dport: number } | null;
}

/** A `< icmp ...` line (the only direction the suite uses for ICMP). */
export interface IcmpSpec {
  /** e.g. 'unreachable', 'time_exceeded', 'parameter_problem', 'packet_too_big', 'source_quench', 'redirect'. */
  type: string;
  /** e.g. 'port_unreachable', 'frag_needed', 'code_1', or null. */
  code: string | null;
  mtu: number | null;
  /** The quoted TCP segment `[seq:end(len)]`, in our (local) sequence space. */
  echoed: { seq: number; end: number; len: number } | null;
}

/** A syscall argument or return-value expression. */
export type Expr =
  | { t: 'ellipsis' }
  | { t: 'int'; v: number }
  | { t: 'word'; v: string }
  | { t: 'string'; v: string }
  | { t: 'array'; items: Expr[] }
  | { t: 'or'; items: Expr[] }
  | { t: 'struct'; fields: { name: string | null; value: Expr }[] }
  | { t: 'call'; name: string; args: Expr[] };

export interface SyscallSpec {
  name: string;
  args: Expr[];
  /** `= N`; `= -1` with errno. */
  ret: Expr;
  errno: string | null;
  note: string | null;
  /** `start...end`: a blocking call that returns at `end`. */
  end: TimeSpec | null;
}

interface EventBase {
  /** 1-based line number in the script file. */
  line: number;
  time: TimeSpec;
  /** The source text of the event (for reports). */
  text: string;
}

export type ScriptEvent = EventBase & (
  | { type: 'tcp'; dir: '<' | '>'; ip: IpInfo; tcp: TcpSpec }
  | { type: 'icmp'; dir: '<' | '>'; ip: IpInfo; icmp: IcmpSpec }
  | { type: 'syscall'; call: SyscallSpec }
  | { type: 'command'; command: string }
  | { type: 'code'; code: string }
);

export interface Script {
  /** Header options `--name=value` in order (names without the dashes). */
  options: { name: string; value: string; line: number }[];
  /** A backquoted command before the first event (packetdrill's init command). */
  initCommand: string | null;
  /** A backquoted command after the last event, run at the end whatever happened (packetdrill's cleanup command). */
  cleanupCommand: string | null;
  events: ScriptEvent[];
}
