import { demoPublish, demoSignIn, demoUsers, type DemoUser, type SessionUser } from './api.ts';
import type { PageElements } from './render.ts';

type DemoHooks = { startSession(user: SessionUser): void; toast(message: string, tone?: 'info' | 'error'): void };

/**
 * Demo mode (`npm start`): pick one of the seeded demo people and publish sample events. A
 * first visit signs in as the first demo person, so the bell works without any setup.
 */
export async function startDemo(els: PageElements, current: SessionUser | null, hooks: DemoHooks): Promise<void> {
  els.demoBar.hidden = false;
  els.demoSteps.hidden = false;
  let users: DemoUser[] = [];
  try {
    users = (await demoUsers()).items;
  } catch {
    hooks.toast('Could not load the demo users.', 'error');
    return;
  }

  function renderUsers(selected: string | null): void {
    els.demoUsers.replaceChildren(
      ...users.map((u) => {
        const button = document.createElement('button');
        button.type = 'button';
        button.textContent = u.name.split(/\s+/)[0] ?? u.id;
        button.title = `${u.name} (${u.role})`;
        button.dataset.userId = u.id;
        button.setAttribute('aria-pressed', String(u.id === selected));
        button.addEventListener('click', () => void signIn(u.id));
        return button;
      }),
    );
  }

  async function signIn(userId: string): Promise<void> {
    try {
      const { user } = await demoSignIn(userId);
      renderUsers(user.id);
      hooks.startSession(user);
    } catch {
      hooks.toast('Could not sign in as that demo user.', 'error');
    }
  }

  els.demoPublish.addEventListener('click', async () => {
    els.demoPublish.disabled = true;
    try {
      await demoPublish();
      hooks.toast('Sample event published — watch the bell.');
    } catch {
      hooks.toast('Could not publish a sample event.', 'error');
    } finally {
      els.demoPublish.disabled = false;
    }
  });

  const known = current && users.some((u) => u.id === current.id) ? current : null;
  if (known) {
    renderUsers(known.id);
    hooks.startSession(known);
  } else if (users[0]) {
    await signIn(users[0].id);
  }
}
