import { runProcess } from '../src/process.ts';
import { startRouter } from './processes.ts';

await runProcess('router', startRouter);
