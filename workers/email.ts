import { runProcess } from '../src/process.ts';
import { startEmail } from './roles/email.ts';

await runProcess('email', startEmail);
