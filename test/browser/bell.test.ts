import { existsSync, mkdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedDemo } from '../../src/demo/demoDirectory.ts';
import type { Web } from '../../src/http/web.ts';
import { apiClient, type ApiClient } from '../helpers/api.ts';
import { requirePeer } from '../helpers/peers.ts';
import { createTestEnv, type TestEnv } from '../helpers/testEnv.ts';

/** Debian's Chromium: CI installs it; a developer machine may not have it. */
const CHROMIUM = '/usr/bin/chromium';
const hasChromium = requirePeer('test/browser/bell.test.ts', existsSync(CHROMIUM), `${CHROMIUM} is missing`, 'Install Debian\'s chromium: apt-get install -y chromium (bash .ci/run does this)');

const ARTIFACTS = join(import.meta.dirname, '../artifacts');

describe.skipIf(!hasChromium)('the bell page in a real browser', () => {
  let env: TestEnv;
  let web: Web;
  let api: ApiClient;
  let userDataDir: string;
  let context: BrowserContext;
  let tab1: Page;
  let tab2: Page;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    env = await createTestEnv({ HERALD_DEMO: 'true' });
    web = await env.startWeb();
    await env.startRouter();
    await env.startInapp();
    await seedDemo(env.db);
    api = apiClient(web.url);

    userDataDir = await mkdtemp(join(tmpdir(), 'herald-chromium-'));
    // A persistent context takes the fresh profile directory as Chromium's --user-data-dir.
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      viewport: { width: 1280, height: 820 },
      deviceScaleFactor: 1,
      colorScheme: 'light',
      reducedMotion: 'reduce',
    });
    // What the host application does when Alice signs in there.
    const token = await env.userToken('alice', ['demo'], 'admin');
    await context.addCookies([{ name: 'herald_token', value: token, url: web.url, httpOnly: true, sameSite: 'Lax' }]);
  });

  afterAll(async () => {
    await context?.close();
    if (userDataDir) await rm(userDataDir, { recursive: true, force: true });
    await env?.cleanup();
  });

  async function openTab(url = web.url): Promise<Page> {
    const page = context.pages().find((p) => p.url() === 'about:blank') ?? (await context.newPage());
    page.on('pageerror', (err) => pageErrors.push(`${err.name}: ${err.message}`));
    await page.goto(`${url}/`);
    return page;
  }

  /** The badge as a person sees it: its text, or "0" when it is hidden. */
  async function badge(page: Page): Promise<string> {
    const el = page.locator('#badge');
    return (await el.isVisible()) ? ((await el.textContent()) ?? '') : '0';
  }

  const publish = (id: string, title: string, extra: Record<string, unknown> = {}) =>
    api.post('/api/v1/events', { id, type: 'finding_created', tenantId: 'demo', severity: 'high', assigneeUserIds: ['alice'], data: { title }, ...extra });

  /**
   * A person works in one tab at a time; the other one sits in the background, where Chromium
   * throttles it — and must still follow along.
   */
  async function use(page: Page): Promise<Page> {
    await page.bringToFront();
    return page;
  }

  async function openPanel(page: Page): Promise<void> {
    await use(page);
    if (await page.locator('#panel').isHidden()) await page.locator('#bell').click();
    await expect.poll(() => page.locator('#panel').isVisible()).toBe(true);
  }

  /** Closed, the panel shows nothing: what arrives stays unseen. */
  async function closePanel(page: Page): Promise<void> {
    await use(page);
    if (await page.locator('#panel').isVisible()) await page.keyboard.press('Escape');
    await expect.poll(() => page.locator('#panel').isHidden()).toBe(true);
  }

  const row = (page: Page, title: string) => page.locator('#list > li', { hasText: title });
  const titleWeight = (page: Page, title: string) => row(page, title).locator('.item-title').evaluate((el) => Number(getComputedStyle(el).fontWeight));
  const welcome = (page: Page) => page.locator('#welcome-text').textContent();

  it('shows the signed-in user, an empty bell and a live connection', async () => {
    tab1 = await openTab();
    tab2 = await openTab();
    for (const tab of [tab1, tab2]) {
      await expect.poll(() => tab.locator('#status').getAttribute('data-state')).toBe('live');
      expect(await tab.locator('#who-name').textContent()).toBe('Alice Analyst');
      expect(await badge(tab)).toBe('0');
      expect(await tab.locator('#bell').getAttribute('aria-label')).toBe('Notifications, nothing new');
      // Push is not configured on this server (the key endpoint answers 503), so no button for it.
      await expect.poll(() => tab.locator('#panel-foot').isHidden()).toBe(true);
      // Remembered across the test: a reload would lose it.
      await tab.evaluate(() => ((window as unknown as { notReloaded: boolean }).notReloaded = true));
    }
  });

  it('raises the badge in both tabs when an event is published through the API, without a reload', async () => {
    expect((await publish('bell_1', 'Dependency confusion in build pipeline')).status).toBe(202);
    for (const tab of [tab1, tab2]) {
      await expect.poll(() => badge(tab)).toBe('1');
      expect(await tab.locator('#bell').getAttribute('aria-label')).toBe('Notifications, 1 new');
      expect(await welcome(tab)).toBe('You have 1 unread notification.');
      await expect.poll(() => tab.locator('#announcer').textContent()).toBe('New notification: Dependency confusion in build pipeline');
      expect(await tab.evaluate(() => (window as unknown as { notReloaded?: boolean }).notReloaded)).toBe(true);
    }
  });

  it('counts unseen on the badge, and opening the panel in one tab clears it in both', async () => {
    await openPanel(tab1);
    // Seen, not read: the row stays bold and unread in both tabs.
    await expect.poll(() => badge(tab1)).toBe('0');
    await expect.poll(() => badge(tab2)).toBe('0');
    expect(await tab2.locator('#bell').getAttribute('aria-label')).toBe('Notifications, nothing new');
    expect(await welcome(tab2)).toBe('You have 1 unread notification.');
    expect(await row(tab1, 'Dependency confusion').getAttribute('class')).toContain('is-unread');
    expect(await titleWeight(tab1, 'Dependency confusion')).toBeGreaterThanOrEqual(600);
    expect((await api.get('/api/v1/notifications/summary', await env.userToken('alice', ['demo']))).body).toEqual({ total: 1, unread: 1, unseen: 0 });
  });

  it('shows unread rows bold until read, and reading one in a tab unbolds it in the other', async () => {
    await row(tab1, 'Dependency confusion in build pipeline').locator('.item-main').click();
    await expect.poll(() => titleWeight(tab1, 'Dependency confusion')).toBeLessThan(600);
    await expect.poll(() => row(tab2, 'Dependency confusion').getAttribute('class')).not.toContain('is-unread');
    expect(await titleWeight(tab2, 'Dependency confusion')).toBeLessThan(600);
    await expect.poll(() => welcome(tab2)).toBe('No unread notifications. The bell rings the moment something new arrives.');
    expect(await badge(tab1)).toBe('0');
    expect(await tab2.evaluate(() => (window as unknown as { notReloaded?: boolean }).notReloaded)).toBe(true);
  });

  it('loads the next page when the list is scrolled to its end', async () => {
    const events = Array.from({ length: 30 }, (_, i) => ({
      id: `bulk_${i}`,
      type: i % 3 === 0 ? 'scan_completed' : 'finding_created',
      tenantId: 'demo',
      severity: i % 3 === 0 ? null : (['low', 'medium', 'high'] as const)[i % 3],
      assigneeUserIds: ['alice'],
      data: { title: `Container image check ${i + 1}`, body: `Image registry.demo.example/service-${i + 1} scanned.` },
    }));
    await closePanel(tab1);
    expect((await api.post('/api/v1/events/batch', { events })).status).toBe(200);
    await expect.poll(() => badge(tab2), { timeout: 15_000 }).toBe('30');

    // A fresh load lists only the first page, and opening the panel marks those 20 seen;
    // scrolling to its end brings the rest, seen as they arrive.
    await (await use(tab1)).reload();
    await expect.poll(() => tab1.locator('#status').getAttribute('data-state')).toBe('live');
    await openPanel(tab1);
    await expect.poll(() => tab1.locator('#list > li').count()).toBe(20);
    await expect.poll(() => badge(tab1)).toBe('10');
    await expect.poll(() => badge(tab2)).toBe('10');
    await tab1.locator('#panel-scroll').evaluate((el) => el.scrollTo({ top: el.scrollHeight }));
    await expect.poll(() => tab1.locator('#list > li').count()).toBe(31);
    const ids = await tab1.locator('#list > li').evaluateAll((rows) => rows.map((r) => (r as HTMLElement).dataset.id));
    expect(new Set(ids).size).toBe(31);
    expect(await tab1.locator('#list > li').last().textContent()).toContain('Dependency confusion');
    await expect.poll(() => badge(tab1)).toBe('0');
    await expect.poll(() => badge(tab2)).toBe('0');
    expect(await welcome(tab1)).toBe('You have 30 unread notifications.');
  });

  it('filters by unread and by type', async () => {
    await (await use(tab1)).locator('#type-filter').selectOption('scan_completed');
    await expect.poll(() => tab1.locator('#list > li').count()).toBe(10);
    await tab1.locator('#type-filter').selectOption('');
    await tab1.locator('[data-filter="unread"]').click();
    await expect.poll(() => tab1.locator('#list > li').count()).toBe(20);
    expect(await tab1.locator('#list > li:not(.is-unread)').count()).toBe(0);
    await tab1.locator('[data-filter="all"]').click();
    await expect.poll(() => tab1.locator('#list > li').count()).toBe(20);
  });

  it('marks everything read in one tab and the other follows', async () => {
    await openPanel(tab2);
    await tab2.locator('#mark-all').click();
    await expect.poll(() => badge(tab1)).toBe('0');
    await expect.poll(() => tab1.locator('#list > li.is-unread').count()).toBe(0);
  });

  it('shows who acted, the event’s actions as links, and a marker on high and urgent priority', async () => {
    await publish('act_urgent', 'Approve the risk exception for payments-api', {
      priority: 'urgent',
      actorId: 'bob',
      data: {
        title: 'Approve the risk exception for payments-api',
        body: 'Bob asks to accept "Outdated TLS on legacy-gateway" until 30 June.',
        actions: [
          { label: 'Approve', url: 'https://app.demo.example/approvals/7/approve' },
          { label: 'Review', url: '/approvals/7' },
        ],
      },
    });
    await publish('act_high', 'Certificate for api.demo.example expires in 3 days', { priority: 'high', severity: 'medium' });
    await publish('act_normal', 'Carol commented on finding 4821', { actorId: 'carol', severity: null });

    for (const tab of [tab1, tab2]) {
      await expect.poll(() => row(tab, 'Carol commented').count()).toBe(1);
      const urgent = row(tab, 'Approve the risk exception');
      expect(await urgent.locator('.item-avatar').textContent()).toBe('BB');
      expect(await urgent.locator('.item-avatar').getAttribute('title')).toBe('Bob Builder');
      expect(await urgent.locator('.item-actor').textContent()).toBe('Bob Builder');
      expect(await row(tab, 'Carol commented').locator('.item-avatar').textContent()).toBe('CA');
      // No actor: a neutral icon, no letters.
      const system = row(tab, 'Certificate for api.demo.example');
      expect(await system.locator('.item-avatar').getAttribute('class')).toContain('is-system');
      expect(await system.locator('.item-avatar').textContent()).toBe('');
      expect(await system.locator('.item-avatar svg').count()).toBe(1);

      const actions = urgent.locator('.item-actions a');
      expect(await actions.allTextContents()).toEqual(['Approve (opens in a new tab)', 'Review (opens in a new tab)']);
      expect(await actions.evaluateAll((links) => links.map((a) => (a as HTMLAnchorElement).href))).toEqual([
        'https://app.demo.example/approvals/7/approve',
        `${web.url}/approvals/7`,
      ]);
      for (const link of await actions.all()) {
        expect(await link.getAttribute('target')).toBe('_blank');
        expect(await link.getAttribute('rel')).toContain('noopener');
      }
      expect(await system.locator('.item-actions').count()).toBe(0);

      // The marker is words as well as colour, and only on high and urgent.
      expect(await urgent.locator('.item-priority').textContent()).toBe('Urgent');
      expect(await urgent.locator('.item-main').textContent()).toContain('Urgent');
      expect(await system.locator('.item-priority').textContent()).toBe('High priority');
      expect(await row(tab, 'Carol commented').locator('.item-priority').count()).toBe(0);
    }

    // The pictures: the open panel in light and in dark, the pointer on the urgent row (its archive button shows).
    await (await use(tab1)).locator('#panel-scroll').evaluate((el) => el.scrollTo({ top: 0 }));
    await row(tab1, 'Approve the risk exception').hover();
    mkdirSync(ARTIFACTS, { recursive: true });
    await tab1.screenshot({ path: join(ARTIFACTS, 'bell.png') });
    await tab1.emulateMedia({ colorScheme: 'dark' });
    await tab1.screenshot({ path: join(ARTIFACTS, 'bell-dark.png') });
    await tab1.emulateMedia({ colorScheme: 'light' });
  });

  it('archives a row in one tab: it leaves the other tab’s inbox and joins its Archived tab', async () => {
    await openPanel(tab2);
    await tab2.locator('#tab-archived').click();
    await expect.poll(() => tab2.locator('#list-empty-text').textContent()).toBe('Nothing archived yet.');
    expect(await tab2.locator('#read-filter').isVisible()).toBe(false);
    // The keyboard moves between the tabs too.
    await tab2.locator('#tab-archived').press('ArrowLeft');
    await expect.poll(() => tab2.locator('#tab-inbox').getAttribute('aria-selected')).toBe('true');
    expect(await tab2.evaluate(() => document.activeElement?.id)).toBe('tab-inbox');
    await expect.poll(() => row(tab2, 'Carol commented').count()).toBe(1);
    await tab2.locator('#tab-inbox').press('ArrowRight');
    await expect.poll(() => tab2.locator('#tab-archived').getAttribute('aria-selected')).toBe('true');
    await expect.poll(() => tab2.locator('#list-empty').isVisible()).toBe(true);

    // Archived from the keyboard: the row goes, and the focus moves to the row now in its place.
    await openPanel(tab1);
    const rows = tab1.locator('#list > li');
    const carolAt = await rows.evaluateAll((all) => all.findIndex((li) => li.textContent?.includes('Carol commented')));
    const nextId = await rows.nth(carolAt + 1).getAttribute('data-id');
    const archiveButton = row(tab1, 'Carol commented').locator('.item-archive');
    expect(await archiveButton.getAttribute('aria-label')).toBe('Archive: Carol commented on finding 4821');
    await archiveButton.focus();
    await tab1.keyboard.press('Enter');
    await expect.poll(() => row(tab1, 'Carol commented').count()).toBe(0);
    // Still there a moment later: the panel stays open, and nothing else takes the focus.
    await tab1.waitForTimeout(300);
    expect(await tab1.locator('#panel').isVisible()).toBe(true);
    expect(await tab1.evaluate(() => (document.activeElement?.closest('li') as HTMLElement | null)?.dataset.id)).toBe(nextId);

    await expect.poll(() => row(tab2, 'Carol commented').count()).toBe(1);
    expect(await row(tab2, 'Carol commented').locator('.item-archive').count()).toBe(0);
    expect((await api.get('/api/v1/notifications?status=archived', await env.userToken('alice', ['demo']))).body.items.map((n: { eventId: string }) => n.eventId)).toEqual(['act_normal']);
  });

  it('archives every read row at once, and a tab that never loaded them lists them in its Archived tab', async () => {
    // A fresh tab knows only the one archived row; the others come from the server when announced.
    await (await use(tab2)).reload();
    await expect.poll(() => tab2.locator('#status').getAttribute('data-state')).toBe('live');
    await openPanel(tab2);
    await tab2.locator('#tab-archived').click();
    await expect.poll(() => tab2.locator('#list > li').count()).toBe(1);

    await openPanel(tab1);
    await tab1.locator('#archive-read').click();
    await expect.poll(() => tab1.locator('#toast').textContent()).toBe('Archived 31 read notifications.');
    await expect.poll(() => tab1.locator('#list > li').count()).toBe(2);
    expect(await tab1.locator('#list > li:not(.is-unread)').count()).toBe(0);
    await expect.poll(() => tab2.locator('#list > li').count()).toBe(32);
    const ids = await tab2.locator('#list > li').evaluateAll((all) => all.map((li) => (li as HTMLElement).dataset.id));
    expect(new Set(ids).size).toBe(32);
    expect((await api.get('/api/v1/notifications/summary', await env.userToken('alice', ['demo']))).body).toEqual({ total: 2, unread: 2, unseen: 0 });

    await tab2.locator('#tab-inbox').click();
    await expect.poll(() => tab2.locator('#list > li').count()).toBe(2);
  });

  it('puts a row back when archiving it fails', async () => {
    await openPanel(tab1);
    await tab1.route('**/api/v1/notifications/*/archive', (route) => route.fulfill({ status: 503, contentType: 'application/json', body: '{"error":{"code":"unavailable","message":"try later"}}' }));
    try {
      await row(tab1, 'Certificate for api.demo.example').hover();
      await row(tab1, 'Certificate for api.demo.example').locator('.item-archive').click();
      await expect.poll(() => tab1.locator('#toast').textContent()).toBe('Could not archive that notification.');
      expect(await row(tab1, 'Certificate for api.demo.example').isVisible()).toBe(true);
      expect(await welcome(tab1)).toBe('You have 2 unread notifications.');
    } finally {
      await tab1.unroute('**/api/v1/notifications/*/archive');
    }
    expect(await row(tab2, 'Certificate for api.demo.example').count()).toBe(1);
  });

  it('publishes sample events from the demo bar, and they arrive live', async () => {
    await closePanel(tab2);
    await openPanel(tab1);
    for (let i = 0; i < 5; i++) {
      const before = await tab1.locator('#list > li').count();
      await tab1.locator('#demo-publish').click();
      await expect.poll(() => tab1.locator('#list > li').count()).toBe(before + 1);
    }
    // On screen in the open panel as they arrive: seen at once, in both tabs, and still unread.
    await expect.poll(() => welcome(tab2)).toBe('You have 7 unread notifications.');
    await expect.poll(() => badge(tab1)).toBe('0');
    await expect.poll(() => badge(tab2)).toBe('0');
    // The panel stayed open while publishing from the demo bar.
    expect(await tab1.locator('#panel').isVisible()).toBe(true);
    const severities = await tab1.locator('#list > li:nth-child(-n+5) .pill').allTextContents();
    expect(severities.length).toBeGreaterThanOrEqual(4);
    // Someone else did it: another demo person's initials.
    expect(await tab1.locator('#list > li:nth-child(-n+5) .item-avatar').allTextContents()).toEqual(['BB', 'BB', 'BB', 'BB', 'BB']);

    // Reading one opens its link in a new tab (answered here: the sample links lead nowhere real).
    await context.route('https://app.demo.example/**', (route) => route.fulfill({ contentType: 'text/html', body: '<title>Finding</title>' }));
    const link = tab1.locator('#list > li').nth(3).locator('a.item-main');
    const href = await link.getAttribute('href');
    const [opened] = await Promise.all([context.waitForEvent('page', { timeout: 10_000 }), link.click()]);
    await opened.waitForLoadState();
    expect(opened.url()).toBe(href);
    await opened.close();
    await expect.poll(() => welcome(tab2)).toBe('You have 6 unread notifications.');

    // A phone, in dark mode: the panel becomes a sheet under the top bar.
    await tab2.setViewportSize({ width: 390, height: 780 });
    await tab2.emulateMedia({ colorScheme: 'dark' });
    await openPanel(tab2);
    // A finger on the first row: a phone shows its archive button anyway, a pointer only on hover.
    await tab2.locator('#list > li').first().hover();
    await tab2.screenshot({ path: join(ARTIFACTS, 'bell-mobile-dark.png') });
    // And in light, on the Archived tab.
    await tab2.emulateMedia({ colorScheme: 'light' });
    await tab2.locator('#tab-archived').click();
    await expect.poll(() => tab2.locator('#list > li').count()).toBe(20);
    await tab2.screenshot({ path: join(ARTIFACTS, 'bell-mobile-archived.png') });
    await tab2.locator('#tab-inbox').click();
  });

  it('switches demo users from the demo bar', async () => {
    await (await use(tab1)).locator('#demo-users button', { hasText: 'Bob' }).click();
    await expect.poll(() => tab1.locator('#who-name').textContent()).toBe('Bob Builder');
    await expect.poll(() => tab1.locator('#status').getAttribute('data-state')).toBe('live');
    expect(await badge(tab1)).toBe('0');
    await api.post('/api/v1/events', { type: 'scan_completed', tenantId: 'demo', assigneeUserIds: ['bob'], data: { title: 'Scan for Bob' } });
    await expect.poll(() => badge(tab1)).toBe('1');
    // Alice's tab heard nothing of it.
    expect(await welcome(tab2)).toBe('You have 6 unread notifications.');
    expect(await badge(tab2)).toBe('0');

    // Carol is swamped: the badge caps at 99+ and says so in words.
    await tab1.locator('#demo-users button', { hasText: 'Carol' }).click();
    await expect.poll(() => tab1.locator('#who-name').textContent()).toBe('Carol Approver');
    const events = Array.from({ length: 120 }, (_, i) => ({ type: 'finding_created', tenantId: 'demo', severity: 'low', assigneeUserIds: ['carol'], data: { title: `Lint finding ${i}` } }));
    expect((await api.post('/api/v1/events/batch', { events })).status).toBe(200);
    await expect.poll(() => badge(tab1), { timeout: 20_000 }).toBe('99+');
    expect(await tab1.locator('#bell').getAttribute('aria-label')).toBe('Notifications, more than 99 new');
  });

  it('asks to sign in when there is no session and no demo mode', async () => {
    const plain = await env.startWeb({ HERALD_DEMO: false });
    await context.clearCookies();
    const page = await openTab(plain.url);
    await expect.poll(() => page.locator('#signed-out').isVisible()).toBe(true);
    expect(await page.locator('#signed-out h1').textContent()).toBe('Sign in to see your notifications');
    expect(await page.locator('#bell').isVisible()).toBe(false);
    expect(await page.locator('#demo-bar').isVisible()).toBe(false);
    await page.screenshot({ path: join(ARTIFACTS, 'bell-signed-out.png') });
    await page.close();
  });

  it('ran without a script error in any tab', () => {
    expect(pageErrors).toEqual([]);
  });
});
