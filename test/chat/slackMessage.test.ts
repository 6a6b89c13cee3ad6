import { describe, expect, it } from 'vitest';
import { SLACK_LIMITS, slackMessage } from '../../src/chat/slackMessage.ts';
import { sampleEvent } from './sampleEvent.ts';

const chars = (text: string) => Array.from(text).length;

describe('Slack Block Kit message', () => {
  it('has a header, a section with severity and title, a context line and a link button', () => {
    const message = slackMessage(sampleEvent({ data: { title: 'SQL injection in /login', body: 'Parameter id', url: 'https://app.example/findings/42' } }));
    expect(message.text).toBe('[High] SQL injection in /login');
    expect(message.blocks.map((b) => b.type)).toEqual(['header', 'section', 'context', 'actions']);
    expect(message.blocks[0]).toEqual({ type: 'header', text: { type: 'plain_text', text: 'SQL injection in /login', emoji: true } });
    expect(message.blocks[1]).toEqual({ type: 'section', text: { type: 'mrkdwn', text: ':large_orange_circle: *High*  SQL injection in /login\nParameter id' } });
    const context = message.blocks[2] as { elements: { text: string }[] };
    expect(context.elements[0]!.text).toMatch(/^Tenant \*acme\* · `finding_created` · <!date\^1795428000\^/);
    expect(message.blocks[3]).toEqual({
      type: 'actions',
      elements: [{ type: 'button', text: { type: 'plain_text', text: 'Open', emoji: true }, url: 'https://app.example/findings/42', action_id: 'open_event' }],
    });
  });

  it('links only https URLs and shows no severity for an event without one', () => {
    for (const url of ['http://app.example/x', 'javascript:alert(1)', 'not a url', 42]) {
      expect(slackMessage(sampleEvent({ data: { url } })).blocks.map((b) => b.type)).not.toContain('actions');
    }
    const message = slackMessage(sampleEvent({ severity: null, data: { title: 'Weekly scan' } }));
    expect(message.text).toBe('Weekly scan');
    expect((message.blocks[1] as { text: { text: string } }).text.text).toBe('Weekly scan');
  });

  it('escapes mrkdwn control characters so event text cannot mention or link', () => {
    const message = slackMessage(sampleEvent({ data: { title: '<!channel> & <https://evil.example|click>' } }));
    expect((message.blocks[1] as { text: { text: string } }).text.text).toContain('&lt;!channel&gt; &amp; &lt;https://evil.example|click&gt;');
    expect(message.text).not.toContain('<!channel>');
  });

  it('truncates long text with an ellipsis to Slack’s limits, never splitting an entity', () => {
    const message = slackMessage(sampleEvent({ data: { title: '🔥'.repeat(400), body: '&'.repeat(5_000) } }));
    const header = (message.blocks[0] as { text: { text: string } }).text.text;
    const section = (message.blocks[1] as { text: { text: string } }).text.text;
    expect(chars(header)).toBe(SLACK_LIMITS.headerText);
    expect(header.endsWith('🔥…')).toBe(true);
    expect(chars(section)).toBeLessThanOrEqual(SLACK_LIMITS.sectionText);
    expect(section).toMatch(/&amp;…$/);
    expect(chars(message.text)).toBeLessThanOrEqual(SLACK_LIMITS.fallbackText);
    expect(message.blocks.length).toBeLessThanOrEqual(SLACK_LIMITS.blocks);
  });
});
