// Public face of the lab: runtimes, shapers, scenarios and the runner.

export { compareRuntime, noNetemRefusal, runShaperComparison } from './compare.js';
export {
  type BufferDemand,
  bufferDemands,
  bufferPreflight,
  type Check,
  captureToolMissing,
  checkBuffer,
  type DoctorProbes,
  doctor,
  formatChecks,
  labImage,
  readSysctl,
  realProbes,
} from './doctor.js';
export { LabError, type LabErrorCode } from './errors.js';
export { type Implementation, loadImplementation, loadImplementations, MANIFEST } from './manifest.js';
export { PROFILES } from './profiles.js';
export { executionOrder, planRuns, type RunOptions, runScenario } from './runner.js';
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
export { sha256OfFile } from './runtimes/host.js';
export type { Runtime, StartedLab, StartOptions, StoppedLab } from './runtimes/lab.js';
export { parseNodeEngines } from './runtimes/swarm/index.js';
export type { RuntimeName, ShaperName } from './runtimes/types.js';
export { knownFileRefusal, loadScenario, parseScenario, type Scenario, scenarioJsonSchema } from './scenario.js';
export {
  applySteps,
  clearSteps,
  type DockerExec,
  dockerExecArgv,
  type ExecResult,
  execDocker,
  explainFailure,
  hasTc,
  ifbFor,
  inspectArgv,
  RELAY_ALTERNATIVE,
  readBack,
  resolveTarget,
  runSteps,
  type ShapeDirection,
  type ShapeOptions,
  type ShapeOutcome,
  type ShapeRequest,
  type ShapeTarget,
  type ShapeVia,
  SIDECAR_IMAGE,
  servicePsArgv,
  shape,
  shapeNotices,
  shapeResolved,
  showSteps,
  sidecarArgv,
  stepArgv,
} from './shape.js';
export { planShaping, withLoss } from './shapers/plan.js';
export {
  checkJobScenario,
  type MissingShard,
  runSwarmJob,
  type SwarmJobOptions,
  type SwarmJobResult,
  shardOfSlot,
  swarmState,
  sweepServices,
} from './swarm-job.js';
