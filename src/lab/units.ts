// Zod types of the lab's units (sizes, percentages, rates, durations), shared by the scenario schema and the
// protocol entries of the registry.
import { z } from 'zod';
import { parsePercent, parseRateBit, parseSizeBytes, parseTimeMs } from '../impair/index.js';

export const size = z
  .union([z.number().int().nonnegative(), z.string()])
  .refine((v) => typeof v === 'number' || parseSizeBytes(v) !== undefined, {
    message: 'expected a size like 16MiB, 500KB or a number of bytes',
  });
export const pct = z
  .union([z.number().min(0).max(100), z.string()])
  .refine((v) => typeof v === 'number' || parsePercent(v.replace(/\s/g, '')) !== undefined, {
    message: 'expected a percentage like 10%',
  });
export const rate = z.string().refine((v) => /^\d+(\.\d+)?\s*[kMG]?bit\/s$/i.test(v) || parseRateBit(v) !== undefined, {
  message: 'expected a rate like 2Mbit/s',
});
export const duration = z
  .union([z.number().nonnegative(), z.string()])
  .refine((v) => typeof v === 'number' || parseTimeMs(v) !== undefined, {
    message: 'expected a duration like 120s or 500ms',
  });

/** A duration in milliseconds (a bare number is seconds). */
export const ms = (v: number | string) => (typeof v === 'number' ? v * 1000 : parseTimeMs(v)!);
/** A size in bytes. */
export const bytesOf = (v: number | string) => (typeof v === 'number' ? v : parseSizeBytes(v)!);
