/** Where the workers' payload converter lives, for Worker `dataConverter` and bundleWorkflowCode. */
export const PAYLOAD_CONVERTER_PATH = require.resolve('./payload-converter');
