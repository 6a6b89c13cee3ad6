import { runProcess } from '../src/process.ts';
import { startWebhook } from './roles/webhook.ts';

await runProcess('webhook', startWebhook);
