import { chownSync, promises as fs, mkdtempSync } from 'node:fs';
import * as path from 'node:path';

/**
 * Running a process as the image's user (entry-points.ts `IMAGE_USER`) on this machine, as
 * Cloud Run and Vertex AI start every container of the image.
 */

/** Who a process runs as, by number: this machine's passwd need not name the image's user. */
export interface ProcessUser {
  uid: number;
  gid: number;
}

/** Only root may start a process as another user; anyone else is unprivileged already. */
export function canSwitchUser(): boolean {
  return process.getuid?.() === 0;
}

/**
 * A fresh, empty HOME for one container, owned by `owner` when given (the image's
 * /home/node is the user's own, and new in every container).
 */
export function freshHome(prefix: string, owner?: ProcessUser): string {
  const home = mkdtempSync(prefix);
  if (owner) chownSync(home, owner.uid, owner.gid);
  return home;
}

/**
 * The first directory on the way from `/` to `target` (itself included) that `user` may not
 * search, or undefined when it can reach `target`. By the mode bits, as the kernel checks
 * them for a process root started as `user` (no supplementary groups: libuv drops them).
 */
export async function firstUnsearchable(target: string, user: ProcessUser): Promise<string | undefined> {
  const parts = path.resolve(target).split(path.sep).filter(Boolean);
  for (let i = 0; i <= parts.length; i++) {
    const dir = path.sep + parts.slice(0, i).join(path.sep);
    const st = await fs.stat(dir);
    const bits = st.uid === user.uid ? st.mode >> 6 : st.gid === user.gid ? st.mode >> 3 : st.mode;
    if ((bits & 0o1) === 0) return dir;
  }
  return undefined;
}
