// Public face of reports: the result model, results.json / report.md / junit.xml / report.html, the terminal
// summary, and merging shards.
export { comparisonRows, groupByPoint, terminalSummary, writeReports } from './files.js';
export { linkRateBps, renderHtml, timelineCaption, timelineParts } from './html.js';
export {
  type GradingMatrix,
  gradingMatrix,
  type MatrixCell,
  matrixHtml,
  matrixJunit,
  matrixMarkdown,
  matrixTable,
  writeMatrix,
} from './matrix.js';
export { MergeError, mergeResults, readResults } from './merge.js';
export {
  type LabResults,
  netemCounters,
  RESULTS_SCHEMA_VERSION,
  type RunRecord,
  runNotes,
  shaMatches,
  unshaped,
  unshapedNote,
} from './results.js';
