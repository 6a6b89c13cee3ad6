import { runProcess } from '../src/process.ts';
import { startPush } from './roles/push.ts';

await runProcess('push', startPush);
