/** `npm run bench`: the namespace throughput bench (same as `uvs bench`). */
import { main } from '../../src/cli/bench.js';

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`bench: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  },
);
