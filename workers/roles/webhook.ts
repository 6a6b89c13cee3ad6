import { deliverWebhook } from '../../src/channels/webhook.ts';
import type { Config } from '../../src/config.ts';
import type { Logger } from '../../src/logger.ts';
import { startOutboundRole, type OutboundRoleOptions } from './outboundRole.ts';
import type { Role } from './role.ts';

/** The webhook worker: signed posts to the URLs of webhook rules. */
export function startWebhook(config: Config, logger: Logger, options: OutboundRoleOptions = {}): Promise<Role> {
  return startOutboundRole('webhook', deliverWebhook, config, logger, options);
}
