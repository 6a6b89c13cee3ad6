import { deliver } from '../../src/channels/push.ts';
import type { Config } from '../../src/config.ts';
import type { Logger } from '../../src/logger.ts';
import { PUSH_NOT_CONFIGURED, vapidDetailsOf } from '../../src/push/vapidKeys.ts';
import { openHttpClientAndTemplates, startDeliveryRole } from './deliveryRole.ts';
import type { Role } from './role.ts';

/** The Web Push worker: encrypts each delivery for every device of its user and posts it through the guarded client. */
export function startPush(config: Config, logger: Logger): Promise<Role> {
  const vapid = vapidDetailsOf(config);
  // Started anyway: jobs then fail with this reason on the delivery timeline instead of waiting unseen in the queue.
  if (!vapid) logger.warn(`${PUSH_NOT_CONFIGURED}; every push delivery will fail until it is`);
  return startDeliveryRole(
    {
      queue: 'push',
      deliver,
      open: async (shared) => {
        const clients = await openHttpClientAndTemplates(shared, config, logger);
        return { deps: { ...clients.deps, vapid }, close: clients.close };
      },
    },
    config,
    logger,
  );
}
