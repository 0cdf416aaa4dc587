/**
 * Golden-file comparison. Set UVS_UPDATE_GOLDEN=1 to (re)write a file after checking the new
 * output by eye against ipvsadm's; otherwise a missing file fails the test.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';

const DIR = join(dirname(fileURLToPath(import.meta.url)), 'golden');

export function expectGolden(name: string, actual: string): void {
  const path = join(DIR, name);
  if (process.env.UVS_UPDATE_GOLDEN === '1') {
    mkdirSync(DIR, { recursive: true });
    writeFileSync(path, actual);
    return;
  }
  if (!existsSync(path)) throw new Error(`golden file ${name} is missing (UVS_UPDATE_GOLDEN=1)`);
  expect(actual).toBe(readFileSync(path, 'utf8'));
}
