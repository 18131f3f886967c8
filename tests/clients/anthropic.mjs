// Shared by the Anthropic client tests: the model they ask for, and a
// policy with a key whose budget is spent.

import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

/** The model the tests ask for, by Anthropic's name. */
export const SONNET = 'claude-sonnet-4-5-20250929';

/** The secret of the key whose monthly budget is 0. */
export const BROKE_KEY = 'sk-tollgate-broke-test';

/**
 * brokePolicy writes a policy directory with the key "broke" (BROKE_KEY,
 * monthly budget 0; -sim adds the demo key) and returns its path.
 */
export function brokePolicy() {
  const dir = mkdtempSync(path.join(tmpdir(), 'tollgate-anthropic-policy-'));
  const sha = createHash('sha256').update(BROKE_KEY).digest('hex');
  writeFileSync(path.join(dir, 'policy.yaml'), `keys:\n  - id: broke\n    sha256: "${sha}"\n    monthly_budget_usd: 0\n`);
  return dir;
}
