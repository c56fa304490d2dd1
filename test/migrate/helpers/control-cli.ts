// A `ferry` CLI for tests: bin/cli.ts's yargs setup with the node commands registered on a fake
// node (helpers/control-fake.ts), so `ferry node` runs without devices or the lead's node.ts.
// Run: node --import tsx test/migrate/helpers/control-cli.ts <command> ...
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { registerNodeCommands } from '../../../bin/node-cli.ts';
import { fakeNode, fakeStatus } from './control-fake.ts';

await registerNodeCommands(yargs(hideBin(process.argv)), {
  startNode: async (cfg, { log }) => {
    // The key goes into a log record on purpose: the logger must not print its bytes.
    log('node.started', { services: cfg.services.length, key: cfg.key });
    const node = fakeNode({ name: cfg.name, total: 3, stepMs: 2 });
    return { ...node, status: () => ({ ...fakeStatus(cfg.name), serviceIps: cfg.serviceIps }) };
  },
})
  .scriptName('ferry')
  .demandCommand(1, 'Name a command; see ferry --help.')
  .strict()
  .help()
  .fail((msg, e, y) => {
    if (e) { process.stderr.write(`ferry: ${e.message}\n`); process.exit(1); }
    process.stderr.write(`ferry: ${msg}\n\n`);
    y.showHelp((s) => process.stderr.write(`${s}\n`));
    process.exit(2);
  })
  .parseAsync();
