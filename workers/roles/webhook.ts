import { deliver } from '../../src/channels/webhook.ts';
import type { Config } from '../../src/config.ts';
import type { Logger } from '../../src/logger.ts';
import { openHttpClient, startDeliveryRole } from './deliveryRole.ts';
import type { Role } from './role.ts';

/** The webhook worker: signed posts to the URLs of webhook rules, routed in groups (src/deliveries/deliveryGroups.ts) and retried one by one. */
export function startWebhook(config: Config, logger: Logger): Promise<Role> {
  return startDeliveryRole({ queue: 'webhook', deliver, open: openHttpClient, groupQueue: 'webhookGroup' }, config, logger);
}
