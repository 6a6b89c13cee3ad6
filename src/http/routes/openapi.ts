import { Router } from 'express';
import { openApiDocument } from '../openapi/document.ts';
import { OPENAPI_PATH } from '../openapi/operationsPaths.ts';

/** The API's OpenAPI 3.1 document. No auth: it is the public contract. */
export function openApiRouter(): Router {
  const router = Router();
  router.get(OPENAPI_PATH, (_req, res) => {
    res.json(openApiDocument());
  });
  return router;
}
