import { runProcess } from '../src/process.ts';
import { startRouter } from './roles/router.ts';

await runProcess('router', startRouter);
