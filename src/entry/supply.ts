import { runStagingPhase } from './staging.ts';
await runStagingPhase('supply');
