export { nodeDiscoveryWorkflow } from './node-discovery';
export { loadBalancerWorkflow } from './load-balancer';
export { nodeAgentWorkflow } from './node-agent';
export { failureDetectorWorkflow } from './failure-detector';
export { healthMonitorWorkflow } from './health-monitor';
export { clusterOrchestratorWorkflow } from './orchestrator';
export { nodeFailureProcedure } from './procedures/node-failure';
export { maintenanceProcedure } from './procedures/maintenance';
