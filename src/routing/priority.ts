import { z } from 'zod';

/** The one place that knows the priority order (SPEC §1): low < normal < high < urgent. */
export const PRIORITIES = ['low', 'normal', 'high', 'urgent'] as const;
export type Priority = (typeof PRIORITIES)[number];

export const DEFAULT_PRIORITY: Priority = 'normal';

export const priorityRank = (priority: Priority): number => PRIORITIES.indexOf(priority);

/** The higher of two priorities: a rule may raise a notification's priority, never lower it. */
export const higherPriority = (a: Priority, b: Priority): Priority => (priorityRank(a) >= priorityRank(b) ? a : b);

/** `priority` and every priority above it: what a `priority=` filter keeps. */
export const prioritiesFrom = (minimum: Priority): Priority[] => PRIORITIES.slice(priorityRank(minimum));

export const prioritySchema = z.enum(PRIORITIES, { message: `must be one of ${PRIORITIES.join(', ')}` });
