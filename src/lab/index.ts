// Public face of the lab: runtimes, shapers, scenarios and the runner.
export { LabError, type LabErrorCode } from './errors.js';
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
