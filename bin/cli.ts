// The ferry CLI (yargs). Every command validates its arguments and reports bad input
// with a clear message and a non-zero exit, never a stack trace.
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { readFileSync } from 'node:fs';
import { demo } from './demo.ts';
import { conformCommand } from './conform/index.ts';
import { registerServiceCommands } from './services.ts';
import { registerSctpCommands } from './sctp-services.ts';
import { registerNodeCommands } from './node-cli.ts';
import { fuzzCommand, fuzzOptions } from './fuzz.ts';
import { replayCommand, replayOptions } from './replay.ts';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };

await registerNodeCommands(registerSctpCommands(registerServiceCommands(yargs(hideBin(process.argv)))))
  .scriptName('ferry')
  .usage('$0 <command> [options]\n\nA user-space TCP and SCTP stack whose live connections can move between nodes.')
  .command('demo', 'the HA demo: two ferry nodes, a curl download and a usrsctp stream, a live switch-over mid-transfer (root; --local for the in-process stack demo)',
    (y) => y
      .option('local', { type: 'boolean', default: false, describe: 'the earlier in-process demo: two stacks over a lossy in-memory link (no root needed)' })
      .option('size', { type: 'number', default: 100, describe: 'MB downloaded by curl' })
      .option('keep', { type: 'boolean', default: false, describe: "keep the lab's directory (node logs, configs)" }),
    async (a) => {
      if (a.local) { await demo(); return; }
      if (!(Number.isFinite(a.size) && a.size >= 1 && a.size <= 10_000)) { process.stderr.write(`ferry demo: --size ${a.size}: a number of MB in 1..10000\n`); process.exit(2); }
      const { runHaDemo } = await import('./demo-ha.ts');
      try {
        const r = await runHaDemo({ sizeMB: a.size, keep: a.keep });
        process.exitCode = r.ok ? 0 : 1;
      } catch (e) {
        process.stderr.write(`ferry demo: ${(e as Error).message}\n`);
        process.exitCode = 1;
      }
    })
  .command('conform <paths..>', 'run packetdrill scripts (e.g. the FreeBSD TCP suite) against ferry on a virtual clock',
    (y) => y
      .positional('paths', { type: 'string', array: true, describe: 'script files or directories' })
      .option('profile', { choices: ['freebsd', 'rfc'] as const, default: 'freebsd' as const, describe: 'stack defaults the scripts expect' })
      .option('json', { type: 'boolean', default: false, describe: 'machine-readable report' })
      .option('verbose', { alias: 'v', type: 'boolean', default: false, describe: 'list every expected failure' })
      .option('define', { type: 'string', array: true, describe: '#ifdef symbols (default STANDARD)' })
      .option('expectations', { type: 'string', describe: 'expectations file (default bin/conform/expectations.json)' })
      .option('update-expectations', { type: 'boolean', default: false, describe: 'rewrite the expectations from this run (never invents reasons)' })
      .option('ignore', { type: 'string', array: true, choices: ['win', 'timing'], describe: 'diagnostics only: skip these checks' }),
    async (a) => {
      process.exitCode = await conformCommand({
        paths: (a.paths ?? []).map(String), profile: a.profile, json: a.json, verbose: a.verbose,
        ...(a.define ? { defines: a.define.map(String) } : {}),
        ...(a.expectations ? { expectations: a.expectations } : {}),
        updateExpectations: a['update-expectations'],
        ...(a.ignore ? { ignore: a.ignore as ('win' | 'timing')[] } : {}),
      });
    })
  .command('fuzz', 'migration fuzzer: random scenarios on the simulated network, endpoint moved at random moments',
    (y) => y.options(fuzzOptions),
    async (a) => { process.exitCode = await fuzzCommand({ seed: a.seed, runs: a.runs, proto: a.proto, verbose: a.verbose }); })
  .command('fuzz-packets', 'packet fuzzer: malformed and forged packets into a host with live TCP and SCTP transfers (simulated network)',
    (y) => y.option('seed', { type: 'number', default: 1, describe: 'seed (the run is deterministic for seed and count)' })
      .option('count', { type: 'number', default: 200_000, describe: 'fuzzed packets to inject' })
      .option('json', { type: 'boolean', default: false, describe: 'machine-readable result' })
      .option('top', { type: 'number', default: 20, describe: 'drop reasons listed' }),
    async (a) => { process.exitCode = (await import('./fuzz-packets.ts')).fuzzPacketsCommand({ seed: a.seed, count: a.count, json: a.json, top: a.top }); })
  .command('replay <file>', 'feed one side of a recorded TCP session (pcap) into ferry; report where its answers diverge',
    (y) => y.positional('file', { type: 'string', demandOption: true, describe: 'pcap or pcapng file' }).options(replayOptions),
    async (a) => { process.exitCode = await replayCommand({ file: String(a.file), side: a.side, all: a.all, json: a.json }); })
  .demandCommand(1, 'Name a command; see ferry --help.')
  .strict()
  .version(pkg.version)
  .help()
  .alias('h', 'help')
  .fail((msg, e, y) => {
    if (e) { process.stderr.write(`ferry: ${e.message}\n`); process.exit(1); }
    process.stderr.write(`ferry: ${msg}\n\n`);
    y.showHelp((s) => process.stderr.write(`${s}\n`));
    process.exit(2);
  })
  .parseAsync();
