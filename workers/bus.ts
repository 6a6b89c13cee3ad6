import { runProcess } from '../src/process.ts';
import { startBus } from './roles/bus.ts';

await runProcess('bus', startBus);
