import { runProcess } from '../src/process.ts';
import { startChat } from './roles/chat.ts';

await runProcess('chat', startChat);
