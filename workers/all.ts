import { startWeb } from '../src/http/web.ts';
import { runProcess } from '../src/process.ts';
import { startInapp } from './roles/inapp.ts';
import type { Role } from './roles/role.ts';
import { startRouter } from './roles/router.ts';

/** Every worker role; `npm start` runs them all in one process beside the API (production runs the Procfile). */
const workerRoles = [startRouter, startInapp];

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
