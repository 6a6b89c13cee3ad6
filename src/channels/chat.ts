import { slackMessage } from '../chat/slackMessage.ts';
import { teamsMessage } from '../chat/teamsMessage.ts';
import type { DeliveryContext, SendOutcome } from '../deliveries/deliveryLifecycle.ts';
import { deliverOverHttp, type HttpDeliveryDeps } from '../deliveries/httpDelivery.ts';
import { PermanentDeliveryError } from '../errors.ts';
import type { QueueJob } from '../queues/queueJob.ts';
import { deliveryMessageText } from '../templates/messageText.ts';
import type { TemplateSource } from '../templates/templateRenderer.ts';

export type ChatDeps = HttpDeliveryDeps & { templates: TemplateSource };

export type ChatPlatform = 'slack' | 'teams';

const PLATFORM_NAME: Record<ChatPlatform, string> = { slack: 'Slack', teams: 'Teams' };

function isChatPlatform(channel: string): channel is ChatPlatform {
  return channel === 'slack' || channel === 'teams';
}

/**
 * The webhook URL a chat delivery posts to, from the team or user row as the delivery's load read
 * it at this try: a URL changed or removed after routing applies to the next try. Errors name the
 * row, never the URL.
 */
function chatUrlOf({ delivery, recipient, team }: DeliveryContext, platform: ChatPlatform): string {
  const column = platform === 'slack' ? 'slackWebhookUrl' : 'teamsWebhookUrl';
  let owner: string;
  let url: string | null | undefined;
  if (delivery.teamId) {
    owner = `team ${delivery.teamId}`;
    url = team?.[column];
  } else if (delivery.userId) {
    owner = `user ${delivery.userId}`;
    url = recipient?.[column];
  } else {
    throw new PermanentDeliveryError('chat delivery names neither a team nor a user');
  }
  if (!url) throw new PermanentDeliveryError(`${owner} has no ${PLATFORM_NAME[platform]} webhook URL`);
  return url;
}

/**
 * Posts one Slack or Teams delivery (both share the chat queue): Block Kit for Slack, an
 * Adaptive Card for Teams, to the team's or the user's webhook URL, saying what the template
 * store and the delivery's rule content say (see messageText).
 */
export async function deliver(job: QueueJob<'chat'>, deps: ChatDeps): Promise<SendOutcome | null> {
  return deliverOverHttp(job, deps, async (context) => {
    const { delivery, event, rule, digest } = context;
    const platform = delivery.channel;
    if (!isChatPlatform(platform)) throw new PermanentDeliveryError(`channel ${platform} is not a chat platform`);
    const url = chatUrlOf(context, platform);
    const text = await deliveryMessageText(deps.templates, event, platform, rule?.content ?? null, digest);
    const message = platform === 'slack' ? slackMessage(event, text, delivery.priority) : teamsMessage(event, text, delivery.priority);
    return { url, kind: platform, body: JSON.stringify(message), headers: { 'content-type': 'application/json' } };
  });
}
