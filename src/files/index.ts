// Public face of files: safe paths, streaming source, parts + journal + atomic promotion, listing, sweeping,
// compression. Nothing here imports from transport.
export {
  type CompressionName,
  codecFor,
  compressionFromName,
  compressionName,
  negotiateCompression,
  zstdAvailable,
} from './codec.js';
export { FileError, type FileErrorCode, fromFsError } from './errors.js';
export { assertFdInside, fdRealPath, isInside } from './fd-check.js';
export { FileSource } from './file-source.js';
export {
  type DirEntry,
  type ListingPlan,
  listDirectory,
  MAX_LIST_ENTRIES,
  planListing,
  renderListing,
} from './list.js';
export {
  GATHER_BYTES,
  JOURNAL_VERSION,
  journalPath,
  MAX_JOURNAL_RANGES,
  openPartCount,
  PartFile,
  type PartFileOptions,
  readJournal,
  readJournalInfo,
  removePartial,
  syncDirectory,
} from './part-file.js';
export { MAX_NAME_BYTES, type ResolveOptions, resolveInsideRoot } from './safe-path.js';
export { type SweepOptions, type SweepResult, sweepAbandonedParts } from './sweep.js';
export { isTempName } from './temp-names.js';
