// Public face of the naive baseline: the seminar report's protocol.
export { type NaiveClientOptions, type NaiveResult, naiveGet } from './client.js';
export { type NaiveServeOptions, naiveServe, type RunningNaiveServer } from './server.js';
