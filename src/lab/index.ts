// Public face of the lab: runtimes, shapers, scenarios and the runner.
export { compareRuntime, noNetemRefusal, runShaperComparison } from './compare.js';
export { LabError, type LabErrorCode } from './errors.js';
export { PROFILES } from './profiles.js';
export { planRuns, type RunOptions, runScenario } from './runner.js';
export {
  buildImage,
  createInternalNetwork,
  dockerAvailable,
  IMAGE_TAG,
  type LabNetwork,
  OFFLINE_BASE,
  startNode,
  sweepLeftovers,
  teardown,
} from './runtimes/docker.js';
export { probeNetem } from './runtimes/docker-runtime.js';
export { sha256OfFile } from './runtimes/local.js';
export type { RuntimeName, ShaperName } from './runtimes/types.js';
export { loadScenario, parseScenario, type Scenario, scenarioJsonSchema } from './scenario.js';
export {
  applySteps,
  clearSteps,
  type DockerExec,
  dockerExecArgv,
  type ExecResult,
  execDocker,
  explainFailure,
  ifbFor,
  inspectArgv,
  RELAY_ALTERNATIVE,
  resolveTarget,
  type ShapeDirection,
  type ShapeOutcome,
  type ShapeRequest,
  type ShapeTarget,
  servicePsArgv,
  shape,
  shapeNotices,
  showSteps,
} from './shape.js';
export { planShaping, withLoss } from './shapers/plan.js';
