export { nodeDiscoveryWorkflow } from './node-discovery';
export { loadBalancerWorkflow } from './load-balancer';
