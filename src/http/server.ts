import { runProcess } from '../process.ts';
import { startWeb } from './web.ts';

await runProcess('web', async (config, logger) => {
  const web = await startWeb(config, logger);
  logger.info({ url: web.url }, 'API listening');
  return web;
});
