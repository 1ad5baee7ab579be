export { nodeDiscoveryWorkflow } from './node-discovery';
