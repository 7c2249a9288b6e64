// The transport's clock: monotonic milliseconds. Only the transport (and above) reads real time.
import { performance } from 'node:perf_hooks';

export type Clock = () => number;
export const monotonicMs: Clock = () => performance.now();
