import { deliver } from '../../src/channels/chat.ts';
import type { Config } from '../../src/config.ts';
import type { Logger } from '../../src/logger.ts';
import { openHttpClientAndTemplates, startDeliveryRole } from './deliveryRole.ts';
import type { Role } from './role.ts';

/** The chat worker: Slack and Teams posts for teams and for users who opted in. */
export function startChat(config: Config, logger: Logger): Promise<Role> {
  return startDeliveryRole({ queue: 'chat', deliver, open: openHttpClientAndTemplates }, config, logger);
}
