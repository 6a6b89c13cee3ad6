/** A started process role (the router, one channel's worker, the API): `close()` stops everything it started. */
export type Role = { close(): Promise<void> };
