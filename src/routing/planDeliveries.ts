import type { EventEnvelope } from '../intake/eventEnvelope.ts';
import type { Channel } from './channels.ts';

/** What routing needs to know of a user named by an event. */
export type DirectoryUser = { id: string; tenantIds: string[] };

export type RoutingInput = {
  event: EventEnvelope;
  /** The users the event names (any tenant); ids not found here do not exist. */
  users: DirectoryUser[];
};

export type PlannedDelivery = {
  channel: Channel;
  /** Unique per event and channel: a user id for in-app and push, an address for email, a rule or team for the rest. */
  destination: string;
  userId?: string;
};

export type SkippedRecipient = { userId: string; reason: string };

export type DeliveryPlan = { deliveries: PlannedDelivery[]; skipped: SkippedRecipient[] };

const APPROVAL_OUTCOMES = new Set(['approval_approved', 'approval_rejected', 'approval_cancelled', 'approval_expired']);

/**
 * Who the event is about to reach, before tenant membership is checked (SPEC §3.1): approval
 * events route by role; everything else goes to assignees and explicit recipients. The actor
 * is never notified of their own action.
 */
export function candidateRecipients(event: EventEnvelope): string[] {
  let ids: string[];
  if (event.type === 'approval_requested') ids = event.approval?.approverCandidateIds ?? [];
  else if (APPROVAL_OUTCOMES.has(event.type)) ids = event.approval?.requesterId ? [event.approval.requesterId] : [];
  else ids = [...event.assigneeUserIds, ...event.recipientUserIds];
  return [...new Set(ids)].filter((id) => id !== event.actorId);
}

/** The routing decision: plain data in, a delivery plan out. No I/O. */
export function planDeliveries({ event, users }: RoutingInput): DeliveryPlan {
  const usersById = new Map(users.map((u) => [u.id, u]));
  const deliveries: PlannedDelivery[] = [];
  const skipped: SkippedRecipient[] = [];

  for (const userId of candidateRecipients(event)) {
    const user = usersById.get(userId);
    if (!user) {
      skipped.push({ userId, reason: 'no such user' });
      continue;
    }
    if (!user.tenantIds.includes(event.tenantId)) {
      skipped.push({ userId, reason: `not a user of tenant ${event.tenantId}` });
      continue;
    }
    deliveries.push({ channel: 'inapp', destination: user.id, userId: user.id });
  }
  return { deliveries, skipped };
}
