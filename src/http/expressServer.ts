import { createServer, IncomingMessage, ServerResponse, type Server } from 'node:http';
import type { Express } from 'express';

/**
 * An HTTP server for an Express app whose requests and responses are born with the app's
 * prototypes, so the prototype change Express makes on every request finds nothing to change.
 *
 * Why: V8 does not share hidden classes between objects that gain properties after a prototype
 * change, and Express sets the prototype of every request and response (to `app.request` and
 * `app.response`) before its router adds `params`, `route`, `locals`… — so each request and each
 * response got a hidden class of its own, every property read on them was megamorphic, and an
 * Express app shaped like ours ran at under half its throughput (expressjs/express#5998;
 * 3,600–4,000 against 7,600–10,100 requests/s measured here), while an open SSE stream kept two
 * classes of its own alive (~2 KiB).
 *
 * Node's server builds requests and responses with the classes it is given; these extend Node's
 * own and sit in front of the app's prototypes, which then point at them. (A constructor built
 * with `Reflect.construct` instead measured slower than doing nothing.)
 */
export function createExpressServer(app: Express): Server {
  class ExpressRequest extends IncomingMessage {}
  class ExpressResponse extends ServerResponse {}
  Object.setPrototypeOf(ExpressRequest.prototype, app.request);
  Object.setPrototypeOf(ExpressResponse.prototype, app.response);
  // Express reads these on every request (and a mounted app restores them on the way out).
  app.request = ExpressRequest.prototype as Express['request'];
  app.response = ExpressResponse.prototype as Express['response'];
  return createServer({ IncomingMessage: ExpressRequest, ServerResponse: ExpressResponse }, app);
}
