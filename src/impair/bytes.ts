// A copy of a byte array that is a copy whatever the array is. `Uint8Array.prototype.slice()` copies, but
// `Buffer.prototype.slice()` is a view on the same memory (Node's DEP0158): code that meant a copy and wrote
// `.slice()` got a copy for some datagrams and a view for others. The simulator's "copy" of a datagram it
// corrupted was a view on the one it also delivered as netem's duplicate — both copies arrived corrupted
// whenever the datagram was a Buffer (Buffer.allocUnsafe: every sealed packet until the datagram pool lent plain
// Uint8Arrays, which changed 49 of the 2,000 recorded seeds; stop 27's CI). The relay escaped it only by copying
// every datagram it received.
// test/unit/architecture.test.ts allows no `.slice()` in src/: a copy is copyBytes, a view is subarray.

/** A new Uint8Array with `b`'s bytes; writing to either never changes the other. */
export function copyBytes(b: Uint8Array): Uint8Array {
  return new Uint8Array(b);
}
