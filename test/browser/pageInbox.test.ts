import { describe, expect, it } from 'vitest';
import type { Notification } from '../../web/api.ts';
import { countsDelta, DEFAULT_FILTER, Inbox } from '../../web/inbox.ts';

/** The bell page's list model (web/inbox.ts): each row once, in its newest known state, whatever order pages and frames come in. */

const AT = '2026-12-03T10:00:00.000Z';

function notification(id: number, states: Partial<Notification> = {}): Notification {
  return {
    id: String(id),
    eventId: `evt_${id}`,
    type: 'finding_created',
    tenantId: 'demo',
    severity: null,
    priority: 'normal',
    title: `Finding ${id}`,
    body: '',
    url: null,
    data: {},
    actor: null,
    actions: [],
    seenAt: null,
    readAt: null,
    archivedAt: null,
    createdAt: AT,
    ...states,
  };
}

const ids = (inbox: Inbox) => inbox.items.map((n) => n.id);

describe('the bell page’s inbox', () => {
  it('lists each notification once, newest first, from pages, live frames and replays', () => {
    const inbox = new Inbox();
    expect(inbox.addLive(notification(3))).toBe(true);
    inbox.addPage([notification(3), notification(2), notification(1)], '1');
    expect(inbox.addLive(notification(3))).toBe(false);
    expect(inbox.addLive(notification(4))).toBe(true);
    expect(ids(inbox)).toEqual(['4', '3', '2', '1']);
  });

  it('keeps a row archived here out of the inbox tab when a page fetched before comes back, and lists it in the archived tab', () => {
    const inbox = new Inbox();
    inbox.addPage([notification(2), notification(1)], null);
    inbox.apply('archive', ['2'], AT);
    expect(ids(inbox)).toEqual(['1']);
    inbox.addPage([notification(2), notification(1)], null);
    expect(ids(inbox)).toEqual(['1']);

    inbox.reset({ ...DEFAULT_FILTER, view: 'archived' });
    inbox.addPage([notification(2, { archivedAt: AT })], null);
    // Archived in another tab while this one shows the archive: it joins the list at once.
    inbox.apply('archive', ['1'], AT);
    expect(ids(inbox)).toEqual(['2', '1']);
  });

  it('remembers what frames said of rows it had not loaded yet', () => {
    const inbox = new Inbox();
    inbox.apply('seen', ['1'], AT);
    inbox.apply('read', ['2'], AT);
    inbox.apply('archive', ['3'], AT);
    inbox.addPage([notification(3), notification(2), notification(1)], null);
    expect(ids(inbox)).toEqual(['2', '1']);
    expect(inbox.get('1')).toMatchObject({ seenAt: AT, readAt: null });
    // Reading marks seen too.
    expect(inbox.get('2')).toMatchObject({ seenAt: AT, readAt: AT });
  });

  it('says how a change moves the counts, archived rows counting in none', () => {
    const inbox = new Inbox();
    inbox.addPage([notification(4), notification(3, { seenAt: AT }), notification(2), notification(1, { archivedAt: AT })], null);
    expect(countsDelta(inbox.apply('seen', ['4', '3'], AT))).toEqual({ unread: 0, unseen: -1 });
    expect(countsDelta(inbox.apply('read', ['3'], AT))).toEqual({ unread: -1, unseen: 0 });
    expect(countsDelta(inbox.apply('archive', ['2'], AT))).toEqual({ unread: -1, unseen: -1 });
    expect(countsDelta(inbox.apply('read', ['1'], AT))).toEqual({ unread: 0, unseen: 0 });
    // Every read row is seen already: archiving them moves no count.
    expect(countsDelta(inbox.apply('archive', 'all read', AT))).toEqual({ unread: 0, unseen: 0 });
    expect(ids(inbox)).toEqual(['4']);
  });

  it('puts rows back as they were when a change fails', () => {
    const inbox = new Inbox();
    inbox.addPage([notification(2), notification(1, { readAt: AT, seenAt: AT })], null);
    const archived = inbox.apply('archive', 'all read', AT);
    const read = inbox.apply('read', ['2'], AT);
    expect(ids(inbox)).toEqual(['2']);
    inbox.restore(read.before);
    inbox.restore(archived.before);
    expect(ids(inbox)).toEqual(['2', '1']);
    expect(inbox.get('2')).toMatchObject({ readAt: null, seenAt: null });
    expect(inbox.get('1')?.archivedAt).toBeNull();
  });

  it('keeps read rows listed in the Unread view until everything is read, which empties it', () => {
    const inbox = new Inbox();
    inbox.reset({ ...DEFAULT_FILTER, unreadOnly: true });
    inbox.addPage([notification(3), notification(2)], '2');
    inbox.apply('read', ['3'], AT);
    expect(ids(inbox)).toEqual(['3', '2']);
    expect(inbox.addLive(notification(4, { readAt: AT }))).toBe(false);
    inbox.apply('read', 'all', AT);
    expect(ids(inbox)).toEqual([]);
    expect(inbox.nextCursor).toBeNull();
  });
});
