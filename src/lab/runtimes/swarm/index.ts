// The swarm runtime's public face (for the runner).

export { removeNetwork, removeService } from './services.js';
export { type Placement, SwarmRuntime } from './swarm-runtime.js';
