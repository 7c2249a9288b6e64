// Public face of the impairment model: netem's grammar, the seeded PRNG, the per-packet decision function.
export { copyBytes } from './bytes.js';
export { NetemSyntaxError } from './errors.js';
export {
  type Blackout,
  type Delivery,
  type DropReason,
  Impairment,
  type ImpairmentOptions,
  type ImpairmentStats,
} from './impairment.js';
export {
  type Distribution,
  type Loss,
  type Netem,
  parseNetem,
  printNetem,
  tcNetemArgs,
  validateNetem,
} from './netem.js';
export { createRng, type Rng, Xoshiro128 } from './prng.js';
export {
  formatPercent,
  formatRateBit,
  formatTimeMs,
  parsePercent,
  parseRateBit,
  parseSizeBytes,
  parseTimeMs,
} from './units.js';
export { ETHERNET_HEADER_BYTES, ipUdpHeaderBytes, udpFrameBytes } from './wire.js';
