// Per-chunk compression for DATA frames (zlib's deflate and brotli; zstd where Node's zlib has it, ≥ 22.15).
// The sender skips a chunk whose compressed form is not smaller; `auto` picks zstd, else deflate.
import * as zlib from 'node:zlib';
import { type ChunkCodec, Compression } from '../protocol/index.js';

type Zstd = {
  zstdCompressSync?: (b: Uint8Array, o?: object) => Buffer;
  zstdDecompressSync?: (b: Uint8Array, o?: object) => Buffer;
};
const z = zlib as typeof zlib & Zstd;

export const zstdAvailable = typeof z.zstdCompressSync === 'function';

export type CompressionName = 'off' | 'auto' | 'deflate' | 'brotli' | 'zstd';

export function compressionFromName(name: CompressionName): Compression {
  switch (name) {
    case 'off':
      return Compression.Off;
    case 'deflate':
      return Compression.Deflate;
    case 'brotli':
      return Compression.Brotli;
    case 'zstd':
      return zstdAvailable ? Compression.Zstd : Compression.Deflate;
    case 'auto':
      return zstdAvailable ? Compression.Zstd : Compression.Deflate;
  }
}

export function compressionName(c: Compression): string {
  return ['off', 'deflate', 'brotli', 'zstd'][c] ?? 'off';
}

/** What a server agrees to: the client's choice when it can do it, else deflate. */
export function negotiateCompression(requested: Compression): Compression {
  if (requested === Compression.Zstd && !zstdAvailable) return Compression.Deflate;
  return requested;
}

function guard(f: () => Uint8Array, expected: number): Uint8Array | undefined {
  try {
    const out = f();
    return out.length === expected ? out : undefined;
  } catch {
    return undefined;
  }
}

export function codecFor(c: Compression): ChunkCodec | undefined {
  switch (c) {
    case Compression.Off:
      return undefined;
    case Compression.Deflate:
      return {
        compress: (d) => zlib.deflateRawSync(d, { level: 1 }),
        decompress: (d, n) => guard(() => zlib.inflateRawSync(d, { maxOutputLength: n }), n),
      };
    case Compression.Brotli:
      return {
        compress: (d) => zlib.brotliCompressSync(d, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 1 } }),
        decompress: (d, n) => guard(() => zlib.brotliDecompressSync(d, { maxOutputLength: n }), n),
      };
    case Compression.Zstd:
      if (!z.zstdCompressSync || !z.zstdDecompressSync) return undefined;
      return {
        compress: (d) => z.zstdCompressSync!(d),
        decompress: (d, n) => guard(() => z.zstdDecompressSync!(d, { maxOutputLength: n }), n),
      };
  }
}
