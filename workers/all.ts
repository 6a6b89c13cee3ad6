import { startWeb } from '../src/http/web.ts';
import { runProcess } from '../src/process.ts';
import { startBus } from './roles/bus.ts';
import { startChat } from './roles/chat.ts';
import { startEmail } from './roles/email.ts';
import { startInapp } from './roles/inapp.ts';
import { startPush } from './roles/push.ts';
import type { Role } from './roles/role.ts';
import { startRouter } from './roles/router.ts';
import { startWebhook } from './roles/webhook.ts';

/** Every worker role; `npm start` runs them all in one process beside the API (production runs the Procfile). */
const workerRoles = [startRouter, startInapp, startEmail, startPush, startWebhook, startChat, startBus];

await runProcess('all', async (config, logger) => {
  const roles: Role[] = [];
  for (const start of workerRoles) roles.push(await start(config, logger));
  const web = await startWeb(config, logger);
  logger.info({ url: web.url }, 'API listening');
  return {
    async close() {
      await web.close();
      await Promise.all(roles.map((r) => r.close()));
    },
  };
});
