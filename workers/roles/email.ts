import { bulkhead } from 'cockatiel';
import { deliver } from '../../src/channels/email.ts';
import type { Config } from '../../src/config.ts';
import { createMailer } from '../../src/email/mailer.ts';
import type { Logger } from '../../src/logger.ts';
import { queueCatalog } from '../../src/queues/catalog.ts';
import { openTemplateSource, startDeliveryRole } from './deliveryRole.ts';
import type { Role } from './role.ts';

/**
 * The email worker: one pooled SMTP transport and one bulkhead per process, shared by every
 * job, and a template cache that every instance drops on a change.
 */
export function startEmail(config: Config, logger: Logger): Promise<Role> {
  return startDeliveryRole(
    {
      queue: 'email',
      deliver,
      open: async (shared) => {
        const templates = await openTemplateSource(shared, config, logger);
        const mailer = createMailer({
          smtpUrl: config.SMTP_URL,
          from: config.EMAIL_FROM,
          maxConnections: config.EMAIL_CONCURRENCY,
          socketTimeoutMs: config.SMTP_TIMEOUT_MS,
        });
        // Queue room for every job the worker may hold, so a waiting send is never refused.
        const sends = bulkhead(config.EMAIL_CONCURRENCY, queueCatalog.email.concurrency);
        return {
          deps: { ...shared, ...templates.deps, mailer, bulkhead: sends },
          async close() {
            await templates.close();
            mailer.close();
          },
        };
      },
    },
    config,
    logger,
  );
}
