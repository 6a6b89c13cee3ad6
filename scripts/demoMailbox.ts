import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SMTPServer } from 'smtp-server';

/**
 * For `npm start` only, when nothing answers at the default SMTP port: a local mailbox that
 * accepts every message, saves it under .data/mail/ and prints one line, so the email channel
 * can be seen working without a real relay.
 */
export async function startDemoMailbox(dataDir: string, port: number, say: (line: string) => void): Promise<() => void> {
  const dir = join(dataDir, 'mail');
  mkdirSync(dir, { recursive: true });
  let count = 0;
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        const file = join(dir, `${Date.now()}-${++count}.eml`);
        writeFileSync(file, raw);
        const subject = /^Subject: (.*)$/im.exec(raw)?.[1] ?? '(no subject)';
        const to = session.envelope.rcptTo.map((r) => r.address).join(', ');
        say(`mail to ${to}: "${subject}" → ${file}`);
        callback();
      });
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return () => server.close();
}
