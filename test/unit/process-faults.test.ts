import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));

function runChild(): Promise<{ code: number | null; stdout: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/fixtures/process-faults-child.ts'], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.once('exit', (code) => resolve({ code, stdout }));
  });
}

describe('installProcessFaultPolicy', () => {
  it('keeps the process running, logs each distinct fault once and counts every occurrence', async () => {
    const { code, stdout } = await runChild();
    expect(code).toBe(0);
    expect(stdout).toContain('still running');
    const logs = stdout
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as { source: string; msg: string; err: { type: string; message: string; stack: string } });
    expect(logs.map((log) => [log.source, log.err.type, log.err.message, log.msg]).sort()).toEqual([
      ['uncaught_exception', 'TypeError', "Cannot read properties of null (reading 'write')", 'unexpected exception; process kept running'],
      ['unhandled_rejection', 'Error', 'nobody awaited this', 'unexpected exception; process kept running'],
    ]);
    // The context an operator needs: where it was thrown.
    expect(logs.find((log) => log.source === 'uncaught_exception')?.err.stack).toContain('nextWrite');
    expect(stdout).toContain('apip_unexpected_errors_total{source="uncaught_exception"} 5');
    expect(stdout).toContain('apip_unexpected_errors_total{source="unhandled_rejection"} 1');
  }, 60_000);
});
