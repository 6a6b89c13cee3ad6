import { runProcess } from '../src/process.ts';
import { startInapp } from './processes.ts';

await runProcess('inapp', startInapp);
