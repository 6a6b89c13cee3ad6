import { runProcess } from '../src/process.ts';
import { startInapp } from './roles/inapp.ts';

await runProcess('inapp', startInapp);
