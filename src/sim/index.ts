// Public face of the deterministic simulator.
export { EventQueue } from './event-queue.js';
export {
  type HostilePayload,
  HostilePeer,
  type HostilePeerOptions,
  type HostileStats,
  type HostileTarget,
  hostilePayload,
  type Injection,
} from './hostile.js';
export { describeProfile, hostileProfile, type LinkProfile } from './profiles.js';
export { reproduceCommand, runCase, runSeeds, type SeedCase, type SeedSummary, seedCase } from './seeds.js';
export { type SimOptions, type SimOutcome, type SimResult, simulateTransfer } from './simulator.js';
