/**
 * The end of `npm test` (scripts/test.sh): what the suite did, from jest's `--json` report, printed
 * last so that a log kept only by its head and tail (CI's) still says which tests failed and why.
 * Usage: node --import tsx scripts/test-summary.ts <name>=<report.json> ... (one per jest run).
 * Exits 1 when a run failed or left no report.
 */
import { existsSync, readFileSync } from 'node:fs';
import { relative } from 'node:path';

interface AssertionResult {
  status: string;
  fullName: string;
  failureMessages?: string[];
}
interface FileResult {
  name: string;
  status: string;
  message: string;
  startTime: number;
  endTime: number;
  assertionResults: AssertionResult[];
}
interface Report {
  success: boolean;
  numTotalTests: number;
  numFailedTests: number;
  numTotalTestSuites: number;
  numFailedTestSuites: number;
  startTime: number;
  testResults: FileResult[];
}

// eslint-disable-next-line no-control-regex -- jest's messages carry terminal colours
const plain = (s: string): string => s.replace(/\u001b\[[0-9;]*m/g, '');
const MESSAGE_LINES = 16;
const LINE_CHARS = 300;
const clip = (l: string): string => (l.length > LINE_CHARS ? `${l.slice(0, LINE_CHARS)}…` : l);

let ok = true;
const files: { lane: string; name: string; s: number }[] = [];
const lanes: string[] = [];
const failures: string[] = [];
for (const arg of process.argv.slice(2)) {
  const [lane, path] = arg.split('=') as [string, string];
  if (!path || !existsSync(path)) {
    ok = false;
    lanes.push(`${lane}: no report (jest did not finish)`);
    continue;
  }
  const r = JSON.parse(readFileSync(path, 'utf8')) as Report;
  const end = Math.max(r.startTime, ...r.testResults.map((f) => f.endTime));
  lanes.push(
    `${lane}: ${r.numTotalTestSuites} files, ${r.numTotalTests} tests, ${r.numFailedTestSuites} files and ${r.numFailedTests} tests failed, ${Math.round((end - r.startTime) / 1000)} s`,
  );
  if (!r.success) ok = false;
  for (const f of r.testResults) {
    const name = relative(process.cwd(), f.name);
    files.push({ lane, name, s: (f.endTime - f.startTime) / 1000 });
    const failed = f.assertionResults.filter((a) => a.status === 'failed');
    // A file that failed outside its tests (a hook, a syntax error) says so in its message.
    if (f.status === 'failed' && failed.length === 0)
      failures.push(`${name}: ${plain(f.message).trim().split('\n').slice(0, MESSAGE_LINES).map(clip).join('\n  ')}`);
    for (const a of failed) {
      const message = plain((a.failureMessages ?? []).join('\n')).trim().split('\n');
      failures.push(`${name} › ${a.fullName}\n  ${message.filter((l) => l.trim()).slice(0, MESSAGE_LINES).map(clip).join('\n  ')}`);
    }
  }
}

files.sort((a, b) => b.s - a.s);
console.log('\ntest summary: the slowest files');
for (const f of files.slice(0, 8)) console.log(`  ${f.s.toFixed(1).padStart(6)} s  ${f.lane}  ${f.name}`);
for (const l of lanes) console.log(`test summary: ${l}`);
if (failures.length) {
  console.log(`test summary: ${failures.length} failed`);
  for (const f of failures) console.log(`FAILED ${f}`);
}
process.exit(ok ? 0 : 1);
