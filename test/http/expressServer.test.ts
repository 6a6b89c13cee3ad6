/**
 * The API's server builds requests and responses already of the app's prototypes (see
 * createExpressServer for why). What must hold: they are born that way, Express's own request
 * and response methods still work, and a mounted sub-app still gets its own prototypes and
 * hands the parent's back.
 */
import type { AddressInfo } from 'node:net';
import type { IncomingMessage } from 'node:http';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createExpressServer } from '../../src/http/expressServer.ts';

const app = express();
const sub = express();
const server = createExpressServer(app);
let base: string;
const bornWith: unknown[] = [];

sub.get('/who', (req, res) => {
  res.json({ subApp: req.app === sub, subPrototype: Object.getPrototypeOf(req) === sub.request });
});
app.use(express.json());
app.use('/sub', sub);
app.post('/items/:id', (req, res) => {
  res.locals.seen = true;
  res.status(201).set('X-Item', req.params.id).json({
    id: req.params.id,
    body: req.body as unknown,
    app: req.app === app,
    prototype: Object.getPrototypeOf(req) === app.request && Object.getPrototypeOf(res) === app.response,
    accepts: req.accepts('json'),
    path: req.path,
    locals: res.locals.seen as boolean,
  });
});
app.get('/after-sub', (req, res) => {
  res.json({ prototype: Object.getPrototypeOf(req) === app.request });
});
// Passed through the sub-app (which has no such route) before it reaches this.
app.get('/sub/fallthrough', (req, res) => {
  res.json({ app: req.app === app, prototype: Object.getPrototypeOf(req) === app.request && Object.getPrototypeOf(res) === app.response });
});

beforeAll(async () => {
  // Runs before Express sees the request: what Node's server built it as.
  server.prependListener('request', (req: IncomingMessage) => bornWith.push(Object.getPrototypeOf(req)));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

describe('createExpressServer', () => {
  it('builds each request already of the app’s request prototype', async () => {
    bornWith.length = 0;
    await fetch(`${base}/after-sub`);
    await fetch(`${base}/after-sub`);
    expect(bornWith).toEqual([app.request, app.request]);
  });

  it('keeps Express’s request and response working: params, body, status, headers, locals, accepts', async () => {
    const response = await fetch(`${base}/items/42`, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json' }, body: JSON.stringify({ a: 1 }) });
    expect(response.status).toBe(201);
    expect(response.headers.get('x-item')).toBe('42');
    expect(await response.json()).toEqual({ id: '42', body: { a: 1 }, app: true, prototype: true, accepts: 'json', path: '/items/42', locals: true });
  });

  it('gives a mounted app its own prototypes and the parent’s back after it', async () => {
    expect(await (await fetch(`${base}/sub/who`)).json()).toEqual({ subApp: true, subPrototype: true });
    expect(await (await fetch(`${base}/sub/fallthrough`)).json()).toEqual({ app: true, prototype: true });
  });
});
