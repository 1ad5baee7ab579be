/** `npm run bundle -- [FILE]`: writes the workflow bundle (default .data/workflow-bundle.js). */
import { resolve } from 'node:path';
import { writeWorkflowBundle } from './lib/bundle';

const out = resolve(process.argv[2] ?? '.data/workflow-bundle.js');
writeWorkflowBundle(out).then(
  (file) => console.log(`bundle: wrote ${file}`),
  (err: Error) => {
    console.error(`bundle: ${err.message}`);
    process.exit(1);
  },
);
