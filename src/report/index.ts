// Public face of reports: the result model, results.json / report.md / junit.xml / report.html, the terminal
// summary, and merging shards.
export { comparisonRows, groupByPoint, terminalSummary, writeReports } from './files.js';
export {
  analyseFlows,
  FLOW_BUCKET_MS,
  type FlowInput,
  type FlowRecord,
  type FlowsRecord,
  flowsLine,
  flowsMarkdown,
  flowsSpec,
  flowsTerminalSeries,
} from './flows.js';
export { linkRateBps, renderHtml, timelineCaption, timelineParts } from './html.js';
export {
  LESSON_KINDS,
  type LessonKind,
  type LessonTable,
  lessonChartSpec,
  lessonFigureKeys,
  lessonOf,
  lessonRecord,
  lessonTable,
} from './lesson.js';
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
  type ArrivalAnalysis,
  type CrossedRecord,
  crossedNote,
  type LabResults,
  type LessonRecord,
  netemCounters,
  RESULTS_SCHEMA_VERSION,
  type ReceivedFile,
  type RelayOverhead,
  type RelayOverheadDirection,
  type RunRecord,
  runNotes,
  type ShaperComparison,
  type ShaperComparisonRow,
  type ShaperDirection,
  type ShaperSide,
  shaMatches,
  shaperComparisonLine,
  shaperComparisonTable,
  unshaped,
  unshapedNote,
} from './results.js';
