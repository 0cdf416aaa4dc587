/**
 * The fixture of the end-to-end director tests: a `LabRun` (client, director running
 * `uvs run`, three real servers in namespaces) brought up before the tests of the enclosing
 * describe (or file) with the usual rr service over the three real servers, and torn
 * down after them — namespaces, links and processes — even when a test fails.
 */
import { afterAll, beforeAll } from 'vitest';
import type { LabRun } from '../../src/lab/lab.js';
import { requireRoot } from './netns.js';

export interface DirectorLabHooks {
  /** Runs after the lab is down: removes what the test made beside it (temp dirs, ...). */
  afterDown?: () => void | Promise<void>;
}

/** Registers the beforeAll/afterAll that start `lab` and tear it down; returns `lab`. */
export function useDirectorLab(lab: LabRun, hooks: DirectorLabHooks = {}): LabRun {
  beforeAll(async () => {
    requireRoot();
    await lab.up();
    await lab.configure('rr');
  }, 120_000);

  afterAll(async () => {
    await lab.down();
    await hooks.afterDown?.();
  }, 60_000);

  return lab;
}
