// Public face of files: safe paths, streaming source, .part + journal + atomic promotion, compression.
export {
  type CompressionName,
  codecFor,
  compressionFromName,
  compressionName,
  negotiateCompression,
  zstdAvailable,
} from './codec.js';
export { FileError, type FileErrorCode, fromFsError } from './errors.js';
export { FileSource } from './file-source.js';
export { journalPath, PartFile, type PartFileOptions, readJournal, readJournalInfo } from './part-file.js';
export { MAX_NAME_BYTES, resolveInsideRoot } from './safe-path.js';
