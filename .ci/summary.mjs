// Prints vitest's JSON report as the plain "N passed, N failed[, N skipped]" line CI reads.
import { readFileSync } from 'node:fs';

let r;
try {
  r = JSON.parse(readFileSync(process.argv[2], 'utf8'));
} catch (e) {
  console.log(`no test report (${e.message})`);
  console.log('0 passed, 1 failed');
  process.exit(1);
}
const passed = r.numPassedTests ?? 0;
// A test file that fails to load counts as a failure even though it ran no test.
const failedSuites = (r.testResults ?? []).filter(
  (t) => t.status === 'failed' && (t.assertionResults ?? []).length === 0,
).length;
const failed = (r.numFailedTests ?? 0) + failedSuites;
const skipped = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(failed > 0 || passed === 0 ? 1 : 0);
