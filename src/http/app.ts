import express, { type Express } from 'express';
import type { RedisClient } from '../redis.ts';
import type { Db } from '../db/client.ts';
import type { Intake } from '../intake/acceptEvent.ts';
import type { RateLimiter } from '../intake/rateLimit.ts';
import type { Logger } from '../logger.ts';
import type { AllowHosts } from '../outbound/urlPolicy.ts';
import type { Queues } from '../queues/catalog.ts';
import type { FramePublisher } from '../realtime/liveFrames.ts';
import type { SseHub } from '../realtime/sseHub.ts';
import type { UserTokenOptions } from '../auth/userTokens.ts';
import type { Authenticator } from './authenticate.ts';
import { errorHandler } from './errorHandler.ts';
import { requestLog } from './requestLog.ts';
import { metricsRouter } from './routes/metrics.ts';
import { queueBoardRouter } from './routes/queueBoard.ts';
import { deliveriesRouter } from './routes/deliveries.ts';
import { demoRouter } from './routes/demo.ts';
import { brandingRouter } from './routes/branding.ts';
import { eventsRouter } from './routes/events.ts';
import { healthRouter } from './routes/health.ts';
import { notificationsRouter } from './routes/notifications.ts';
import { openApiRouter } from './routes/openapi.ts';
import { pageRouter } from './routes/page.ts';
import { preferencesRouter } from './routes/preferences.ts';
import { chatSettingsRouter } from './routes/chatSettings.ts';
import { pushRouter } from './routes/push.ts';
import { rulePacksRouter } from './routes/rulePacks.ts';
import { rulesRouter } from './routes/rules.ts';
import { streamRouter } from './routes/stream.ts';
import { teamsRouter } from './routes/teams.ts';
import { templatesRouter, type TemplateApiDeps } from './routes/templates.ts';
import { tenantsRouter } from './routes/tenants.ts';
import { usersRouter } from './routes/users.ts';

export type AppDeps = {
  db: Db;
  redis: RedisClient;
  logger: Logger;
  auth: Authenticator;
  intake: Intake;
  rateLimit: RateLimiter;
  hub: SseHub;
  frames: FramePublisher;
  allowHosts: AllowHosts;
  /** The SMTP relay for template test-sends, and the template cache invalidation. */
  templates: TemplateApiDeps;
  /** Demo mode (`npm start`): the bell page's demo sign-in and sample events, signed with `userTokens`. */
  demoMode: boolean;
  userTokens: UserTokenOptions;
  queues: Queues;
  adminBasicAuth?: string | undefined;
  /** VAPID_PUBLIC_KEY, served to browsers; undefined when Web Push is not configured. */
  vapidPublicKey?: string | undefined;
};

/** The HTTP API as an Express app, with everything it needs passed in. It does not listen. */
export function createApp(deps: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', false);
  app.set('query parser', 'simple');

  app.use(requestLog(deps.logger));
  app.use(express.json({ limit: '256kb' }));

  // Intake and the live stream first: they are most of the traffic, and Express tries each
  // router in turn until one matches.
  const apiRouters = [
    eventsRouter(deps),
    streamRouter(deps),
    notificationsRouter(deps),
    healthRouter(deps),
    metricsRouter(),
    openApiRouter(),
    queueBoardRouter(deps),
    tenantsRouter(deps),
    usersRouter(deps),
    teamsRouter(deps),
    rulesRouter(deps),
    rulePacksRouter(deps),
    deliveriesRouter(deps),
    preferencesRouter(deps),
    chatSettingsRouter(deps),
    templatesRouter(deps),
    brandingRouter(deps),
    pushRouter(deps),
  ];
  for (const router of apiRouters) app.use(router);

  app.use(pageRouter(deps));
  if (deps.demoMode) app.use(demoRouter(deps));

  app.use((_req, res) => {
    res.status(404).json({ error: { code: 'not_found', message: 'no such route', details: [] } });
  });
  app.use(errorHandler(deps.logger));
  return app;
}
