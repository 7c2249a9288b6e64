// The swarm runtime's public face (for the runner).

export { checkNodeNames, chooseEndpoint, type Engine, engineAt, locateTask, parseNodeEngines } from './engines.js';
export { mergePlacement, type Placement } from './placement.js';
export { removeNetwork, removeService } from './services.js';
export { SwarmRuntime } from './swarm-runtime.js';
