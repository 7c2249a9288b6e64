// netascii (RFC 764 as used by RFC 1350): on the wire every line ends CR LF and a bare CR is CR NUL.
// Both directions are streaming: a chunk boundary may fall between CR and its partner.

const CR = 13;
const LF = 10;
const NUL = 0;

/** Local text → wire: LF → CR LF, CR → CR NUL. */
export function netasciiEncode(chunk: Uint8Array): Uint8Array {
  let extra = 0;
  for (const c of chunk) if (c === LF || c === CR) extra++;
  if (extra === 0) return chunk;
  const out = new Uint8Array(chunk.length + extra);
  let j = 0;
  for (const c of chunk) {
    if (c === LF) {
      out[j++] = CR;
      out[j++] = LF;
    } else if (c === CR) {
      out[j++] = CR;
      out[j++] = NUL;
    } else out[j++] = c;
  }
  return out;
}

/** Wire → local text, keeping a CR that ends one chunk until the next one decides what it was. */
export class NetasciiDecoder {
  private pendingCr = false;

  push(chunk: Uint8Array): Uint8Array {
    const out = new Uint8Array(chunk.length + 1);
    let j = 0;
    for (const c of chunk) {
      if (this.pendingCr) {
        this.pendingCr = false;
        if (c === LF) {
          out[j++] = LF;
          continue;
        }
        out[j++] = CR; // CR NUL, or a bare CR from a sloppy peer: keep the CR
        if (c === NUL) continue;
      }
      if (c === CR) this.pendingCr = true;
      else out[j++] = c;
    }
    return out.subarray(0, j);
  }

  /** The end of the transfer: a CR still pending was a bare CR. */
  end(): Uint8Array {
    if (!this.pendingCr) return new Uint8Array(0);
    this.pendingCr = false;
    return Uint8Array.of(CR);
  }
}
