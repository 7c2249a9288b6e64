// What a client that writes datagrams in arrival order actually wrote: the seminar's client puts no position in
// its datagrams, but every datagram it wrote is one chunk of the original file, so cutting the written file into
// chunks and finding each chunk in the original gives the order the datagrams arrived in — which of them came
// late, which twice, which never. Pure: two buffers in, counts out.

import type { ArrivalAnalysis } from '../report/index.js';

export type { ArrivalAnalysis };

/** Cuts `written` into `chunk`-byte pieces and places each in `original`; undefined when the original repeats a chunk. */
export function analyseArrival(original: Buffer, written: Buffer, chunk: number): ArrivalAnalysis | undefined {
  if (chunk <= 0) return undefined;
  const index = new Map<string, number>();
  const n = Math.ceil(original.length / chunk);
  for (let i = 0; i < n; i++) {
    const k = original.subarray(i * chunk, (i + 1) * chunk).toString('base64');
    if (index.has(k)) return undefined; // a repeating file (zeros, text): positions are ambiguous
    index.set(k, i);
  }
  const seen = new Set<number>();
  const sequence: number[] = [];
  let inPlace = 0;
  let late = 0;
  let ahead = 0;
  let duplicates = 0;
  let foreign = 0;
  let highest = -1;
  const m = Math.ceil(written.length / chunk);
  for (let j = 0; j < m; j++) {
    const i = index.get(written.subarray(j * chunk, (j + 1) * chunk).toString('base64')) ?? -1;
    if (sequence.length < 20_000) sequence.push(i);
    if (i < 0) {
      foreign++;
      continue;
    }
    if (i === j) inPlace++;
    if (seen.has(i)) duplicates++;
    else if (i < highest) late++;
    else if (i > highest + 1) ahead++;
    seen.add(i);
    highest = Math.max(highest, i);
  }
  return {
    chunk_bytes: chunk,
    original_chunks: n,
    written_chunks: m,
    in_place: inPlace,
    late,
    ahead,
    duplicates,
    missing: n - seen.size,
    foreign,
    sequence,
  };
}
