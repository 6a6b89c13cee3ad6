/** Whether this run is CI's: `CI` set to anything but "false" or "0". */
export const inCi = Boolean(process.env.CI) && process.env.CI !== 'false' && process.env.CI !== '0';

/**
 * Whether a peer the suite cannot start by itself (a NATS server, Debian's Chromium) is here.
 * In CI its absence fails the file: a skipped test there would let a green run claim what was
 * never checked. On a developer's machine the file's tests are skipped, with a warning that
 * names what is missing and how to get it.
 */
export function requirePeer(file: string, available: boolean, missing: string, howToGet: string): boolean {
  if (available) return true;
  if (inCi) throw new Error(`${file}: ${missing}. ${howToGet}. CI must not skip a test.`);
  console.warn(`\n*** SKIPPING ${file}: ${missing}.\n*** ${howToGet}.\n`);
  return false;
}
