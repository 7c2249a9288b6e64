// Public face of the deterministic simulator.

export { formatBottleneck, parseFlows } from './bottleneck-report.js';
export { canonicalJson } from './canonical-json.js';
export { changedSeeds, describeChangedSeeds, SIM_DIGEST_SEEDS, seedDigest } from './digest.js';
export { type Admission, DropTailQueue, type DropTailStats } from './droptail.js';
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
export {
  type BottleneckOptions,
  type BottleneckResult,
  type FlowKind,
  type FlowResult,
  type FlowSpec,
  jainIndex,
  simulateBottleneck,
} from './shared-bottleneck.js';
export { type SimOptions, type SimOutcome, type SimResult, simulateTransfer } from './simulator.js';
export {
  TCP_MODEL_MSS,
  TCP_MODEL_WIRE_BYTES,
  TcpModelReceiver,
  TcpModelSender,
  type TcpModelStats,
} from './tcp-model.js';
