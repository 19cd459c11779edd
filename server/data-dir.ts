import { chmodSync, lstatSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

/** True for PGlite's in-memory data directories, where nothing is written. */
export function isMemoryDataDir(dir: string): boolean {
  return dir.startsWith('memory://');
}

/**
 * Creates DATA_DIR owner-only (0700) and takes group and other access away from everything already under it
 * (dirs 0700, files 0600): PGlite writes its files with the process umask, and a directory created by an older
 * version was 0755 with files 0666. Symbolic links are left alone (their target is not ours to change).
 */
export function secureDataDir(dir: string): void {
  if (isMemoryDataDir(dir)) return;
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  restrict(dir);
}

function restrict(path: string): void {
  const stat = lstatSync(path);
  if (stat.isSymbolicLink()) return;
  if (stat.isDirectory()) {
    if ((stat.mode & 0o077) !== 0) chmodSync(path, stat.mode & 0o700);
    for (const entry of readdirSync(path)) restrict(join(path, entry));
  } else if ((stat.mode & 0o077) !== 0) {
    chmodSync(path, stat.mode & 0o600);
  }
}
