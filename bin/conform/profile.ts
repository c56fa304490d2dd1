// Profiles: the stack configuration a script runs against, and how the FreeBSD sysctl lines of
// the suite map onto it.
//
//   freebsd  FreeBSD's defaults (the ones the suite's scripts were written against): window
//            65535 on SYNs, window shift from kern.ipc.maxsockbuf, FreeBSD's SYN option order,
//            recvspace 65536 / sendspace 32768, initial RTO 1 s, minimum RTO 30 ms, delayed
//            ACK 100 ms, NewReno, 3 SYN|ACK retransmissions, TIME-WAIT 60 s.
//   rfc      ferry's own defaults (what a user gets); sysctl lines still apply.
//
// Every sysctl the suite uses is in SYSCTLS below with the setting it maps to and why. A value
// with no ferry equivalent makes the script "not runnable" (with the reason), never a pass.
import type { StackConfig, TcpSocketConfig } from '../../stack/api.ts';
import { defaultStackConfig, defaultTcpConfig } from '../../stack/stack.ts';

export type ProfileName = 'freebsd' | 'rfc';

/** Addresses of the two ends, as packetdrill's FreeBSD defaults (local 192.168.0.1 / remote 192.0.2.1). */
export const ADDRS = {
  4: { local: '192.168.0.1', remote: '192.0.2.1' },
  6: { local: 'fd3d:fa7b:d17d::1', remote: '2001:db8::1' },
} as const;
/** packetdrill's --bind_port and --connect_port defaults. */
export const SCRIPT_PORT = 8080;

/** The mutable configuration while a script runs: defaults for new sockets, stack-wide settings, raw sysctl values. */
export interface Env {
  profile: ProfileName;
  /** Defaults every new socket starts with (passed as `options` on listen/connect). */
  tcp: TcpSocketConfig;
  /** Stack-wide settings (copied into the running stack's state when they change). */
  stack: StackConfig;
  /** Current value of every FreeBSD sysctl the runner knows (for getsockopt and for rules that look at several). */
  sysctl: Record<string, number>;
  /** Outbound TCP timestamp clock tick (µs), for checking TSval against the script (packetdrill --tcp_ts_tick_usecs). */
  tsTickUsecs: number;
  /** Notes about approximations made for this script (shown in the report). */
  notes: string[];
}

/** FreeBSD sysctl defaults for everything in SYSCTLS (FreeBSD 12-14 GENERIC). */
const FREEBSD_SYSCTL_DEFAULTS: Record<string, number> = {
  'net.inet.tcp.rfc1323': 1,
  'net.inet.tcp.sack.enable': 1,
  'net.inet.tcp.recvspace': 65536,
  'net.inet.tcp.sendspace': 32768,
  'kern.ipc.maxsockbuf': 2097152,
  'net.inet.tcp.hostcache.purgenow': 0,
  'net.inet.tcp.insecure_rst': 0,
  'net.inet.tcp.insecure_syn': 0,
  'net.inet.tcp.ecn.enable': 2,
  'net.inet.tcp.ecn.maxretries': 1,
  'net.inet.tcp.blackhole': 0,
  'net.inet.tcp.drop_synfin': 0,
  'net.inet.tcp.rexmit_initial': 1000,
  'net.inet.tcp.rexmit_min': 30,
  'net.inet.tcp.rexmit_slop': 200,
  'net.inet.tcp.rexmit_drop_options': 0,
  'net.inet.tcp.keepinit': 75000,
  'net.inet.tcp.keepidle': 7200000,
  'net.inet.tcp.always_keepalive': 1,
  'net.inet.tcp.keepintvl': 75000,
  'net.inet.tcp.keepcnt': 8,
  'net.inet.tcp.delacktime': 100,
  'net.inet.tcp.icmp_may_rst': 1,
  'net.inet.tcp.syncookies': 1,
  'net.inet.tcp.syncookies_only': 0,
  'net.inet.tcp.tolerate_missing_ts': 0,
  'net.inet.tcp.udp_tunneling_port': 0,
  'net.inet.tcp.udp_tunneling_overhead': 8,
  'net.inet.tcp.msl': 30000,
};

/** FreeBSD's window shift: the smallest that lets a 65535 window cover sb_max (tcp_syncache / tcp_connect). */
export function freebsdShift(maxsockbuf: number): number {
  let s = 0;
  while (s < 14 && 65535 * 2 ** s < maxsockbuf) s++;
  return s;
}

/** The base environment of a profile for one script (`mtu` from the script's --mtu option). */
export function makeEnv(profile: ProfileName, mtu: number): Env {
  if (profile === 'rfc') {
    const tcp = { ...defaultTcpConfig(), mtu };
    return {
      // always_keepalive=0: ferry's own default runs keepalives only with SO_KEEPALIVE.
      profile, tcp, stack: defaultStackConfig([]), sysctl: { ...FREEBSD_SYSCTL_DEFAULTS, 'net.inet.tcp.always_keepalive': 0 },
      tsTickUsecs: 1000, notes: [],
    };
  }
  const tcp: TcpSocketConfig = {
    ...defaultTcpConfig(),
    mtu,
    mss: null,
    rcvBuf: 65536,                 // net.inet.tcp.recvspace
    sndBuf: 32768,                 // net.inet.tcp.sendspace
    wscale: true,                  // net.inet.tcp.rfc1323=1
    wscaleShift: freebsdShift(2097152),
    sack: true,                    // net.inet.tcp.sack.enable=1
    timestamps: true,
    cc: 'newreno',                 // FreeBSD's default congestion control
    initialCwnd: 10,               // net.inet.tcp.initcwnd_segments
    delayedAck: true,
    delayedAckMs: 100,             // net.inet.tcp.delacktime
    ackEvery: 2,
    initialRto: 1000,              // net.inet.tcp.rexmit_initial
    minRto: 30,                    // net.inet.tcp.rexmit_min
    maxRto: 64000,                 // TCPTV_REXMTMAX
    synRetries: 10,                // the suite's snd-syn-rtx-max-number: 11 SYNs before ETIMEDOUT
    synAckRetries: 3,              // SYNCACHE_MAXREXMTS
    maxRetries: 12,                // TCP_MAXRXTSHIFT
    msl: 30000,                    // net.inet.tcp.msl: TIME-WAIT 60 s
    finWait2Timeout: 60000,        // net.inet.tcp.finwait2_timeout
    noDelay: false,
    keepAlive: { enabled: false, idle: 7200000, interval: 75000, count: 8 },
    userTimeout: 0,
    persistMin: 5000,              // TCPTV_PERSMIN
    persistMax: 60000,             // TCPTV_PERSMAX
    dupThresh: 3,
    optionLayout: 'freebsd',
    rcvWndPolicy: 'free-space',    // tcp_output: the free socket-buffer space, no window below min(sb_hiwat/4, t_maxseg)
    sockBufRoundToMss: true,       // tcp_mss_update: socket buffers rounded up to a multiple of the MSS
    delAckSegments: true,          // tcp_input: TF_DELACK already set -> ACK now (every second segment, any size)
    rtoSlop: 200,                  // net.inet.tcp.rexmit_slop
    ackRepeatsFin: true,           // tcp_output: an ACK sent while only our FIN is unacknowledged carries the FIN again
    connectTimeout: 75000,         // net.inet.tcp.keepinit
    ecn: 'accept',                 // net.inet.tcp.ecn.enable=2
    ecnSynRetries: 1,              // net.inet.tcp.ecn.maxretries
  };
  const stack: StackConfig = {
    ...defaultStackConfig([]),
    tcp,
    rfc5961: true,                 // insecure_rst=0, insecure_syn=0
    rstForClosedPorts: true,       // blackhole=0
    syncookies: 'overflow',        // syncookies=1, syncookies_only=0
    // icmp_may_rst=1: Time Exceeded in transit ends a connection attempt (tcp_ctlinput's
    // tcp_drop_syn_sent), one case of the behaviour RFC 5461 §4.1 describes.
    softErrorsAbortConnecting: 'time-exceeded',
    tcpOverUdp: null,              // udp_tunneling_port=0
  };
  return {
    profile, tcp, stack, sysctl: { ...FREEBSD_SYSCTL_DEFAULTS },
    tsTickUsecs: 1000, notes: [],
  };
}

/** A stack-config field that a future stack may add; used only if defaultStackConfig() has it. */
function stackHas(env: Env, field: string): boolean {
  return Object.prototype.hasOwnProperty.call(env.stack, field);
}
const setStack = (env: Env, field: string, v: unknown) => { (env.stack as unknown as Record<string, unknown>)[field] = v; };

/** One sysctl: what it means, what it maps to, and how. `apply` returns null, or why the value cannot be honoured. */
export interface SysctlRule {
  name: string;
  /** The ferry setting(s) it maps to and why (the report lists this table). */
  maps: string;
  apply(v: number, env: Env): string | null;
}

/** Both RFC 5961 knobs map onto ferry's single switch (StackConfig.rfc5961: §3 RST, §4 SYN, §5 ACK checks). */
function apply5961(env: Env): string | null {
  const rst = env.sysctl['net.inet.tcp.insecure_rst']!, syn = env.sysctl['net.inet.tcp.insecure_syn']!;
  if (stackHas(env, 'rfc5961Rst') && stackHas(env, 'rfc5961Syn')) {
    setStack(env, 'rfc5961Rst', rst === 0);
    setStack(env, 'rfc5961Syn', syn === 0);
    return null;
  }
  if (rst === syn) { env.stack.rfc5961 = rst === 0; return null; }
  // The script turned one of them away from FreeBSD's default: that one is what the script tests.
  const secure = rst === 1 ? false : syn === 1 ? false : true;
  env.stack.rfc5961 = secure;
  const note = `insecure_rst=${rst} insecure_syn=${syn}: ferry has one RFC 5961 switch (RST, SYN and ACK checks together); ran with rfc5961=${secure}`;
  if (!env.notes.includes(note)) env.notes.push(note);
  return null;
}

export const SYSCTLS: readonly SysctlRule[] = [
  {
    name: 'net.inet.tcp.rfc1323',
    maps: 'TcpSocketConfig.wscale and .timestamps (RFC 7323): 0 neither, 1 both, 2 window scaling only, 3 timestamps only',
    apply: (v, env) => {
      if (v < 0 || v > 3) return `value ${v} out of range`;
      env.tcp.wscale = v === 1 || v === 2;
      env.tcp.timestamps = v === 1 || v === 3;
      return null;
    },
  },
  {
    name: 'net.inet.tcp.sack.enable',
    maps: 'TcpSocketConfig.sack (RFC 2018 SACK-permitted on SYNs)',
    apply: (v, env) => { env.tcp.sack = v !== 0; return null; },
  },
  {
    name: 'net.inet.tcp.recvspace',
    maps: 'TcpSocketConfig.rcvBuf (initial receive buffer, which bounds the advertised window)',
    apply: (v, env) => { env.tcp.rcvBuf = v; return null; },
  },
  {
    name: 'net.inet.tcp.sendspace',
    maps: 'TcpSocketConfig.sndBuf',
    apply: (v, env) => { env.tcp.sndBuf = v; return null; },
  },
  {
    name: 'kern.ipc.maxsockbuf',
    maps: 'TcpSocketConfig.wscaleShift in the freebsd profile (FreeBSD picks the smallest shift with 65535<<shift >= sb_max); caps SO_RCVBUF/SO_SNDBUF',
    apply: (v, env) => { if (env.profile === 'freebsd') env.tcp.wscaleShift = freebsdShift(v); return null; },
  },
  {
    name: 'net.inet.tcp.hostcache.purgenow',
    maps: 'nothing: ferry keeps no host cache (every connection starts from the configured defaults), so a purge is a no-op',
    apply: () => null,
  },
  {
    name: 'net.inet.tcp.insecure_rst',
    maps: 'StackConfig.rfc5961Rst (0: RFC 5961 §3 exact-match RST with challenge ACKs; 1: RFC 793 in-window RST)',
    apply: (_v, env) => apply5961(env),
  },
  {
    name: 'net.inet.tcp.insecure_syn',
    maps: 'StackConfig.rfc5961Syn (0: RFC 5961 §4 challenge ACK for any SYN; 1: RFC 793 RST for an in-window SYN)',
    apply: (_v, env) => apply5961(env),
  },
  {
    name: 'net.inet.tcp.ecn.enable',
    maps: "TcpSocketConfig.ecn (RFC 3168): 0 'off', 1 'on' (send ECN-setup SYNs and accept them), 2 'accept' (answer ECN-setup SYNs only); 3 and 4 (AccECN) are not available",
    apply: (v, env) => {
      const mode = v === 0 ? 'off' : v === 1 ? 'on' : v === 2 ? 'accept' : null;
      if (mode === null) return `ecn.enable=${v} (accurate ECN) has no ferry setting`;
      env.tcp.ecn = mode;
      return null;
    },
  },
  {
    name: 'net.inet.tcp.ecn.maxretries',
    maps: 'TcpSocketConfig.ecnSynRetries (retransmissions of an ECN-setup SYN before falling back to a plain SYN, RFC 3168 §6.1.1.1)',
    apply: (v, env) => { env.tcp.ecnSynRetries = v; return null; },
  },
  {
    name: 'net.inet.tcp.blackhole',
    maps: 'StackConfig.rstForClosedPorts (0: RST for every segment to a closed port, RFC 9293 §3.10.7.1; 2: never)',
    apply: (v, env) => {
      if (v === 0) { env.stack.rstForClosedPorts = true; return null; }
      if (v === 2) { env.stack.rstForClosedPorts = false; return null; }
      return 'blackhole=1 (drop only SYNs to closed ports) has no ferry setting';
    },
  },
  {
    name: 'net.inet.tcp.drop_synfin',
    maps: 'StackConfig.dropSynFin (1: SYN+FIN segments are dropped unanswered, except in TIME-WAIT and at closed ports, as in FreeBSD)',
    apply: (v, env) => {
      if (stackHas(env, 'dropSynFin')) { setStack(env, 'dropSynFin', v !== 0); return null; }
      return v === 0 ? null : 'drop_synfin=1 (silently drop SYN+FIN segments) has no ferry setting';
    },
  },
  {
    name: 'net.inet.tcp.rexmit_initial',
    maps: 'TcpSocketConfig.initialRto (RFC 6298 §2.1)',
    apply: (v, env) => { env.tcp.initialRto = v; return null; },
  },
  {
    name: 'net.inet.tcp.rexmit_min',
    maps: 'TcpSocketConfig.minRto (RFC 6298 §2.4)',
    apply: (v, env) => { env.tcp.minRto = v; return null; },
  },
  {
    name: 'net.inet.tcp.rexmit_slop',
    maps: 'TcpSocketConfig.rtoSlop (added to every RTO but the first, as FreeBSD does; RFC 6298 sets lower bounds only)',
    apply: (v, env) => { env.tcp.rtoSlop = v; return null; },
  },
  {
    name: 'net.inet.tcp.rexmit_drop_options',
    maps: 'nothing: ferry keeps the SYN options on every SYN retransmission (0); dropping them (1) is not available',
    apply: (v) => (v === 0 ? null : 'rexmit_drop_options=1 (drop SYN options after the 3rd retransmission) has no ferry setting'),
  },
  {
    name: 'net.inet.tcp.keepinit',
    maps: 'TcpSocketConfig.connectTimeout (ms; an active open not ESTABLISHED by then fails with ETIMEDOUT; 0: none)',
    apply: (v, env) => { env.tcp.connectTimeout = v > 0 ? v : null; return null; },
  },
  {
    name: 'net.inet.tcp.keepidle',
    maps: 'TcpSocketConfig.keepAlive.idle (ms, RFC 9293 §3.8.4)',
    apply: (v, env) => { env.tcp.keepAlive = { ...env.tcp.keepAlive, idle: v }; return null; },
  },
  {
    name: 'net.inet.tcp.keepintvl',
    maps: 'TcpSocketConfig.keepAlive.interval (ms)',
    apply: (v, env) => { env.tcp.keepAlive = { ...env.tcp.keepAlive, interval: v }; return null; },
  },
  {
    name: 'net.inet.tcp.keepcnt',
    maps: 'TcpSocketConfig.keepAlive.count',
    apply: (v, env) => { env.tcp.keepAlive = { ...env.tcp.keepAlive, count: v }; return null; },
  },
  {
    name: 'net.inet.tcp.always_keepalive',
    maps: 'TcpSocketConfig.keepAlive.enabled on every socket the runner opens when 1 (RFC 9293 §3.8.4 keepalives; getsockopt(SO_KEEPALIVE) still reports the socket option)',
    apply: (v) => (v === 0 || v === 1 ? null : `always_keepalive=${v} is not 0 or 1`),
  },
  {
    name: 'net.inet.tcp.delacktime',
    maps: 'TcpSocketConfig.delayedAckMs (RFC 5681 §4.2 bound on the ACK delay)',
    apply: (v, env) => { env.tcp.delayedAckMs = v; env.tcp.delayedAck = v > 0; return null; },
  },
  {
    name: 'net.inet.tcp.icmp_may_rst',
    maps: "StackConfig.icmpHardErrors (1: ICMP hard errors end a connection attempt in SYN-SENT, RFC 1122 §4.2.3.9 SHOULD; 0: every ICMP error is soft, RFC 5927 §7 style) and StackConfig.softErrorsAbortConnecting ('time-exceeded' when 1: Time Exceeded in transit also ends it, RFC 5461 §4.1; 'none' when 0)",
    apply: (v, env) => {
      env.stack.icmpHardErrors = v !== 0;
      env.stack.softErrorsAbortConnecting = v !== 0 ? 'time-exceeded' : 'none';
      return null;
    },
  },
  {
    name: 'net.inet.tcp.syncookies',
    maps: "StackConfig.syncookies ('overflow' when 1, 'off' when 0; RFC 4987 §3.6)",
    apply: (v, env) => {
      env.stack.syncookies = v === 0 ? 'off' : env.sysctl['net.inet.tcp.syncookies_only'] ? 'always' : 'overflow';
      return null;
    },
  },
  {
    name: 'net.inet.tcp.syncookies_only',
    maps: "StackConfig.syncookies = 'always' when 1",
    apply: (v, env) => {
      env.stack.syncookies = v !== 0 ? 'always' : env.sysctl['net.inet.tcp.syncookies'] ? 'overflow' : 'off';
      return null;
    },
  },
  {
    name: 'net.inet.tcp.tolerate_missing_ts',
    maps: "nothing: 0 (drop non-RST segments without TSopt once timestamps are in use, RFC 7323 §3.2 SHOULD) is ferry's fixed behaviour",
    apply: (v) => (v === 0 ? null : 'tolerate_missing_ts=1 has no ferry setting (ferry follows RFC 7323 §3.2 and drops them)'),
  },
  {
    name: 'net.inet.tcp.msl',
    maps: 'TcpSocketConfig.msl (TIME-WAIT lasts 2*MSL, RFC 9293 §3.4.2)',
    apply: (v, env) => { env.tcp.msl = v; return null; },
  },
  {
    name: 'net.inet.tcp.udp_tunneling_port',
    maps: 'StackConfig.tcpOverUdp.port (TCP over UDP: the local UDP port; 0 turns it off)',
    apply: (v, env) => {
      if (!Number.isInteger(v) || v < 0 || v > 65535) return `udp_tunneling_port=${v} is not a port`;
      env.stack.tcpOverUdp = v === 0 ? null : { port: v, mtuOverhead: udpMtuOverhead(env) };
      return null;
    },
  },
  {
    name: 'net.inet.tcp.udp_tunneling_overhead',
    maps: "StackConfig.tcpOverUdp.mtuOverhead stays 0: FreeBSD does not take the overhead off the MSS of a connection on the interface's MTU (the suite's scripts expect MSS 1460 and 1460-byte segments inside UDP with overhead 8); ferry's users set mtuOverhead themselves (8, the UDP header, keeps packets within the MTU)",
    apply: (v, env) => {
      if (!Number.isInteger(v) || v < 0 || v > 1024) return `udp_tunneling_overhead=${v} is out of range`;
      if (env.stack.tcpOverUdp !== null) env.stack.tcpOverUdp = { ...env.stack.tcpOverUdp, mtuOverhead: udpMtuOverhead(env) };
      return null;
    },
  },
];

/** See the udp_tunneling_overhead rule: FreeBSD's observed MSS does not include it. */
function udpMtuOverhead(env: Env): number {
  void env;
  return 0;
}

const RULES: Record<string, SysctlRule> = Object.fromEntries(SYSCTLS.map((r) => [r.name, r]));

/** Apply `sysctl -w name=value`: null when honoured, else why the script cannot run. */
export function applySysctl(env: Env, name: string, value: number): string | null {
  const rule = RULES[name];
  if (rule === undefined) return `sysctl ${name} has no mapping onto a ferry setting`;
  const prev = env.sysctl[name];
  env.sysctl[name] = value;
  const why = rule.apply(value, env);
  if (why !== null && prev !== undefined) env.sysctl[name] = prev;
  return why;
}
