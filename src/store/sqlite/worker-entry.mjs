// Worker threads do not inherit a loader registered through the API, so register it here, then
// load the TypeScript module named in workerData.
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
await import(workerData.entry);
