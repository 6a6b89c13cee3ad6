import { startWeb } from '../src/http/web.ts';
import { runProcess } from '../src/process.ts';
import { startInapp, startRouter } from './processes.ts';

/** Every Herald role in one process: a first try on one machine, not how production runs it (see Procfile). */
await runProcess('all', async (config, logger) => {
  const roles = [await startRouter(config, logger), await startInapp(config, logger)];
  const web = await startWeb(config, logger);
  logger.info({ url: web.url }, 'API listening');
  return {
    async close() {
      await web.close();
      await Promise.all(roles.map((r) => r.close()));
    },
  };
});
