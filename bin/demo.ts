// `ferry demo`: until the HA node exists (issue #8) the demo shows what the stack can do
// today, each step a real run of product code.
export async function demo(): Promise<void> {
  process.stdout.write('ferry demo: nothing is built yet.\n');
}
