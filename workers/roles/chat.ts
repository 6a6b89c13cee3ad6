import { deliverChat } from '../../src/channels/chat.ts';
import type { Config } from '../../src/config.ts';
import type { Logger } from '../../src/logger.ts';
import { startOutboundRole, type OutboundRoleOptions } from './outboundRole.ts';
import type { Role } from './role.ts';

/** The chat worker: Slack and Teams posts for teams and for users who opted in. */
export function startChat(config: Config, logger: Logger, options: OutboundRoleOptions = {}): Promise<Role> {
  return startOutboundRole('chat', deliverChat, config, logger, options);
}
