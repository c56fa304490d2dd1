// The ferry CLI (yargs). Every command validates its arguments and reports bad input
// with a clear message and a non-zero exit, never a stack trace.
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { readFileSync } from 'node:fs';
import { demo } from './demo.ts';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };

await yargs(hideBin(process.argv))
  .scriptName('ferry')
  .usage('$0 <command> [options]\n\nA user-space TCP and SCTP stack whose live connections can move between nodes.')
  .command('demo', 'run the main demonstration (what exists so far)', {}, async () => { await demo(); })
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
