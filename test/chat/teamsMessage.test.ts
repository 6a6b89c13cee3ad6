import { describe, expect, it } from 'vitest';
import { ADAPTIVE_CARD_VERSION, messageBytes, TEAMS_LIMITS, teamsMessage } from '../../src/chat/teamsMessage.ts';
import { sampleEvent } from './sampleEvent.ts';

describe('Teams Adaptive Card message', () => {
  it('wraps an Adaptive Card in a message envelope', () => {
    const message = teamsMessage(sampleEvent({ severity: 'critical', data: { title: 'Disk full', body: 'on db-1', url: 'https://app.example/i/7' } }));
    expect(message.type).toBe('message');
    expect(message.attachments).toHaveLength(1);
    const [attachment] = message.attachments;
    expect(attachment.contentType).toBe('application/vnd.microsoft.card.adaptive');
    expect(attachment.contentUrl).toBeNull();
    const card = attachment.content;
    expect(card).toMatchObject({ type: 'AdaptiveCard', version: ADAPTIVE_CARD_VERSION, $schema: 'http://adaptivecards.io/schemas/adaptive-card.json' });
    expect(['1.4', '1.5']).toContain(card.version);
    expect(card.body).toEqual([
      expect.objectContaining({ type: 'TextBlock', text: 'CRITICAL', color: 'Attention' }),
      expect.objectContaining({ type: 'TextBlock', text: 'Disk full', weight: 'Bolder', wrap: true }),
      expect.objectContaining({ type: 'TextBlock', text: 'on db-1', wrap: true }),
      {
        type: 'FactSet',
        facts: [
          { title: 'Tenant', value: 'acme' },
          { title: 'Event', value: 'finding_created' },
          { title: 'Occurred', value: '2026-11-23T10:00:00.000Z' },
        ],
      },
    ]);
    expect(card.actions).toEqual([{ type: 'Action.OpenUrl', title: 'Open', url: 'https://app.example/i/7' }]);
    expect(teamsMessage(sampleEvent({ data: { url: 'http://app.example/i/7' } })).attachments[0].content.actions).toBeUndefined();
  });

  it('escapes Markdown in event text so it cannot link, emphasise or start a list', () => {
    const message = teamsMessage(
      sampleEvent({ data: { title: '[Reset your password](https://evil.example) **now**', body: '- item\n2. step\n_quiet_ ~x~ `code` a\\b' } }),
    );
    // The first TextBlock is the severity label.
    const [, title, body] = message.attachments[0].content.body.filter((e) => e.type === 'TextBlock').map((e) => e.text as string);
    expect(title).toBe('\\[Reset your password\\]\\(https://evil.example\\) \\*\\*now\\*\\*');
    expect(body).toBe('\\- item\n\\2. step\n\\_quiet\\_ \\~x\\~ \\`code\\` a\\\\b');
  });

  it('stays within 28 KB however much text the event carries', () => {
    // Control characters cost six bytes each once JSON-escaped.
    const message = teamsMessage(sampleEvent({ data: { title: 'Big', body: '\u0001'.repeat(5_000) } }));
    expect(messageBytes(message)).toBeLessThanOrEqual(TEAMS_LIMITS.payloadBytes);
    const body = message.attachments[0].content.body.find((b) => b.type === 'TextBlock' && String(b.text).startsWith('\u0001'));
    expect(String(body?.text).endsWith('…')).toBe(true);
  });
});
