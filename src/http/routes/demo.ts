import { Router, type Request } from 'express';
import { z } from 'zod';
import { scopeOf } from '../../auth/principal.ts';
import { signUserToken, type UserTokenOptions } from '../../auth/userTokens.ts';
import { DEMO_TENANT, DEMO_USERS } from '../../demo/demoDirectory.ts';
import type { Intake } from '../../intake/acceptEvent.ts';
import { TOKEN_COOKIE, type Authenticator } from '../authenticate.ts';
import type { PageUser } from './page.ts';
import { rejectionToHttpError } from './events.ts';
import { parseOrThrow } from '../params.ts';

export type DemoDeps = { auth: Authenticator; intake: Intake; userTokens: UserTokenOptions };

type Sample = { type: string; severity?: string; title: string; body: string; path?: string };

/** What a security platform would really send, so the demo inbox looks like one. */
const SAMPLES: Sample[] = [
  { type: 'finding_created', severity: 'high', title: 'SQL injection in /login', body: 'The username parameter reaches a raw query in auth-service. Found by the nightly DAST scan.', path: 'findings/4821' },
  { type: 'sla_breached', severity: 'urgent', title: 'SLA breached: CVE-2024-3094 on build-runner-07', body: 'A critical finding has been open 8 days, past its 7-day remediation deadline.', path: 'findings/4710' },
  { type: 'scan_completed', title: 'Nightly scan of payments-api finished', body: '1,284 checks run: 3 new findings, 2 fixed since yesterday.', path: 'scans/992' },
  { type: 'approval_requested', severity: 'medium', title: 'Risk acceptance awaits your approval', body: 'Accept "Outdated TLS on legacy-gateway" until 30 June, while the gateway is being replaced.', path: 'approvals/117' },
  { type: 'finding_assigned', severity: 'critical', title: 'AWS access key exposed in a public repository', body: 'An active key for the billing account was committed to acme/website. Rotate it first, then clean the history.', path: 'findings/4833' },
  { type: 'report_ready', severity: 'info', title: 'Your Q3 compliance report is ready', body: 'SOC 2 control coverage: 96%. The PDF is available for 7 days.', path: 'reports/q3-2025' },
  { type: 'finding_created', severity: 'low', title: 'Missing security headers on docs.demo.example', body: 'Content-Security-Policy and Permissions-Policy are not set.', path: 'findings/4840' },
];

const SAMPLE_TYPES = [...new Set(SAMPLES.map((s) => s.type))] as [string, ...string[]];
const DEMO_USER_IDS = DEMO_USERS.map((u) => u.id) as [string, ...string[]];

const sessionBody = z.object({ userId: z.enum(DEMO_USER_IDS, `must be one of ${DEMO_USER_IDS.join(', ')}`) });
const publishBody = z.object({
  type: z.enum(SAMPLE_TYPES, `must be one of ${SAMPLE_TYPES.join(', ')}`).optional(),
  // Checked by the intake like any publisher's severity.
  severity: z.string().optional(),
  assigneeUserIds: z.array(z.enum(DEMO_USER_IDS, `must be one of ${DEMO_USER_IDS.join(', ')}`)).min(1).max(DEMO_USER_IDS.length).optional(),
});

const SESSION_HOURS = 12;

function demoUser(id: string): PageUser {
  const user = DEMO_USERS.find((u) => u.id === id)!;
  return { id: user.id, name: user.name, email: user.email, role: user.role, tenants: [DEMO_TENANT.id] };
}

/**
 * `npm start`'s demo helpers, mounted only in demo mode: sign in as a seeded demo person
 * (no password — it is a demo) and publish sample events through the real intake.
 */
export function demoRouter(deps: DemoDeps): Router {
  const router = Router();
  let nextSample = 0;

  /** Whoever the page is signed in as, if it is one of the demo people. */
  async function demoCaller(req: Request): Promise<string | null> {
    const principal = await deps.auth.identify(req);
    return principal?.kind === 'user' && DEMO_USER_IDS.includes(principal.userId) ? principal.userId : null;
  }

  router.get('/demo/users', (_req, res) => {
    res.json({ items: DEMO_USERS.map((u) => ({ id: u.id, name: u.name, email: u.email, role: u.role })) });
  });

  router.post('/demo/session', async (req, res) => {
    const { userId } = parseOrThrow(sessionBody, req.body ?? {});
    const user = demoUser(userId);
    const token = await signUserToken(deps.userTokens, { sub: user.id, tenants: user.tenants, role: user.role }, `${SESSION_HOURS}h`);
    res.cookie(TOKEN_COOKIE, token, { httpOnly: true, sameSite: 'lax', path: '/', maxAge: SESSION_HOURS * 3_600_000 });
    res.json({ user, token });
  });

  router.post('/demo/publish', async (req, res) => {
    const body = parseOrThrow(publishBody, req.body ?? {});
    const candidates = body.type ? SAMPLES.filter((s) => s.type === body.type) : SAMPLES;
    const sample = candidates[nextSample++ % candidates.length]!;
    const caller = await demoCaller(req);
    const assignees = body.assigneeUserIds ?? (caller ? [caller] : DEMO_USER_IDS);
    // Someone else did it (nobody hears of their own action), when there is someone else.
    const actorId = DEMO_USER_IDS.find((id) => !assignees.includes(id)) ?? null;
    const event = {
      type: sample.type,
      tenantId: DEMO_TENANT.id,
      severity: body.severity ?? sample.severity ?? null,
      actorId,
      assigneeUserIds: assignees,
      ...(sample.type === 'approval_requested' && { approval: { requesterId: actorId, approverCandidateIds: assignees } }),
      data: { title: sample.title, body: sample.body, ...(sample.path && { url: `https://app.demo.example/${sample.path}` }) },
    };
    const result = await deps.intake.acceptEvent(event, scopeOf([DEMO_TENANT.id]));
    if (result.status === 'rejected') throw rejectionToHttpError(result);
    res.status(202).json(result);
  });

  return router;
}
