/**
 * One director per network namespace, as the kernel has one IPVS table per namespace: the
 * director binds the abstract unix socket @uvs-director before it touches anything (the
 * socket is the namespace's, and the kernel frees it when the process dies, however it
 * dies, so a lock is never left behind). A second director is refused at once and told
 * who holds the lock; it has changed nothing.
 */
import { connect, createServer, type Server } from 'node:net';

const LOCK_NAME = '\0uvs-director';

export interface InstanceLock {
  release(): Promise<void>;
}

/** Takes the lock, or rejects naming the director that holds it. */
export async function claimDirectorLock(info: { control: string }): Promise<InstanceLock> {
  const me = `${JSON.stringify({ pid: process.pid, control: info.control })}\n`;
  const server: Server = createServer((sock) => {
    sock.on('error', () => {});
    sock.end(me);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', async (e: NodeJS.ErrnoException) => {
      if (e.code !== 'EADDRINUSE') {
        reject(e);
        return;
      }
      const holder = await whoHolds();
      reject(
        new Error(
          `another uvs director is already running in this network namespace${holder}; ` +
            'one director per namespace (it owns the interfaces and the nftables table)',
        ),
      );
    });
    server.listen({ path: LOCK_NAME }, () => resolve());
  });
  server.unref();
  return {
    release: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** " (pid N, control @name)" from the holder, or "" if it does not say within a second. */
function whoHolds(): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    const s = connect({ path: LOCK_NAME });
    const done = () => {
      clearTimeout(timer);
      s.destroy();
      try {
        const h = JSON.parse(text) as { pid: number; control: string };
        resolve(` (pid ${h.pid}, control ${h.control})`);
      } catch {
        resolve('');
      }
    };
    const timer = setTimeout(done, 1000);
    s.on('data', (d) => {
      text += d.toString();
      if (text.length > 4096) done();
    });
    s.on('end', done);
    s.on('error', done);
  });
}
